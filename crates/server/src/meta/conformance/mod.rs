//! What every [`JobStore`] must do, written once and run against each backend: the tests of
//! `meta::sqlite::jobs` and `meta::postgres::jobs` call these with their own store. Only
//! backend's [`Clock`] says how time passes for its leases (SQLite takes the caller's time,
//! PostgreSQL its own).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod detections;

use serde_json::json;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures_util::future::BoxFuture;

use crate::meta::jobs::{
    CallbackTarget, DeliveryOutcome, JobCallback, JobError, JobState, JobStore, ListFilter, NewJob,
    Outcome, Queue, QueueNotify, QueueState,
};

/// A hash job of queue `q` on object `k<n>`.
pub(crate) fn new_job(q: &Queue, n: u32) -> NewJob {
    NewJob {
        tag: "FileHashCode".into(),
        queue_id: q.id.clone(),
        bucket: q.bucket.clone(),
        input: json!({ "object": format!("k{n}") }),
        callback: JobCallback::Queue,
    }
}

pub(crate) async fn ids_have_the_cos_shape(s: &dyn JobStore) {
    let q = s.default_queue("b-1").await.unwrap();
    assert!(q.id.starts_with('p') && q.id.len() == 33);
    assert!(
        q.id[1..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(
        s.default_queue("b-1").await.unwrap().id,
        q.id,
        "one default per bucket"
    );
    let j = s.submit(new_job(&q, 0)).await.unwrap();
    assert!(j.id.starts_with('f') && j.id.len() == 33);
    assert_eq!(j.state, JobState::Submitted);
}

pub(crate) async fn pause_holds_jobs_and_resume_releases_them(s: &dyn JobStore) {
    let q = s.default_queue("b-1").await.unwrap();
    let first = s.submit(new_job(&q, 0)).await.unwrap();
    s.update_queue(&q.id, None, Some(QueueState::Paused), None)
        .await
        .unwrap();
    let second = s.submit(new_job(&q, 1)).await.unwrap();
    assert_eq!(second.state, JobState::Pause);
    let got = s
        .get(&[first.id.clone(), second.id.clone(), "fnope".into()])
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|j| j.state).collect::<Vec<_>>(),
        vec![JobState::Pause, JobState::Pause]
    );
    assert_eq!(
        got.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        vec![first.id.clone(), second.id.clone()],
        "in the order asked"
    );
    assert!(
        s.claim("w", &["FileHashCode"], 1, 100)
            .await
            .unwrap()
            .is_none()
    );
    let q2 = s
        .update_queue(&q.id, Some("renamed"), Some(QueueState::Active), None)
        .await
        .unwrap();
    assert_eq!(
        (q2.name.as_str(), q2.state),
        ("renamed", QueueState::Active)
    );
    let claimed = s
        .claim("w", &["FileHashCode"], 1, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, first.id, "oldest first");
    assert!(matches!(
        s.update_queue("pnope", None, None, None).await,
        Err(JobError::NoSuchQueue)
    ));
    assert_eq!(s.queues("b-1").await.unwrap(), vec![q2.clone()]);
    assert_eq!(s.queue(&q.id).await.unwrap(), Some(q2));
    assert_eq!(s.queue("pnope").await.unwrap(), None);
}

pub(crate) async fn only_waiting_jobs_can_be_cancelled(s: &dyn JobStore) {
    let q = s.default_queue("b-1").await.unwrap();
    let a = s.submit(new_job(&q, 0)).await.unwrap();
    let b = s.submit(new_job(&q, 1)).await.unwrap();
    s.claim("w", &["FileHashCode"], 1, 100).await.unwrap();
    assert!(matches!(
        s.cancel(&a.id, 5).await,
        Err(JobError::NotCancellable(JobState::Running))
    ));
    let cancelled = s.cancel(&b.id, 5).await.unwrap();
    assert_eq!(cancelled.state, JobState::Cancel);
    assert!(cancelled.ended_at.is_some());
    assert!(matches!(
        s.cancel("fnope", 5).await,
        Err(JobError::NoSuchJob)
    ));
    assert!(matches!(
        s.submit(NewJob {
            queue_id: "pnope".into(),
            ..new_job(&q, 2)
        })
        .await,
        Err(JobError::NoSuchQueue)
    ));
}

pub(crate) async fn listing_pages_by_token_in_either_order_with_filters(s: &dyn JobStore) {
    let q = s.default_queue("b-1").await.unwrap();
    let mut ids = Vec::new();
    for n in 0..25 {
        ids.push(s.submit(new_job(&q, n)).await.unwrap().id);
    }
    let other = s.default_queue("b-2").await.unwrap();
    s.submit(new_job(&other, 99)).await.unwrap();
    s.cancel(&ids[3], 1).await.unwrap();

    let mut f = ListFilter {
        bucket: "b-1".into(),
        size: 10,
        ascending: true,
        ..ListFilter::default()
    };
    let mut seen = Vec::new();
    loop {
        let (page, next) = s.list(&f).await.unwrap();
        seen.extend(page.into_iter().map(|j| j.id));
        match next {
            Some(t) => f.next_token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every job of the bucket once, oldest first");

    let newest = ListFilter {
        bucket: "b-1".into(),
        size: 3,
        ..ListFilter::default()
    };
    let (page, next) = s.list(&newest).await.unwrap();
    assert_eq!(
        page.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        vec![ids[24].clone(), ids[23].clone(), ids[22].clone()]
    );
    let (page2, _) = s
        .list(&ListFilter {
            next_token: next.clone(),
            ..newest.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        vec![ids[21].clone(), ids[20].clone(), ids[19].clone()]
    );
    assert!(next.is_some());

    let cancelled = ListFilter {
        bucket: "b-1".into(),
        size: 100,
        states: vec![JobState::Cancel],
        ..ListFilter::default()
    };
    let (page, _) = s.list(&cancelled).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, ids[3]);

    let by_object = ListFilter {
        bucket: "b-1".into(),
        size: 100,
        input_object: Some("k7".into()),
        ..ListFilter::default()
    };
    let (page, _) = s.list(&by_object).await.unwrap();
    assert_eq!(
        page.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        [ids[7].clone()]
    );
    let none = ListFilter {
        input_object: Some("k".into()),
        ..by_object
    };
    assert!(
        s.list(&none).await.unwrap().0.is_empty(),
        "exact match only"
    );

    // Every filter at once.
    let all = ListFilter {
        bucket: "b-1".into(),
        tag: Some("FileHashCode".into()),
        queue_id: Some(q.id.clone()),
        input_object: Some("k5".into()),
        states: vec![JobState::Submitted, JobState::Running],
        created_from: Some(0),
        created_to: Some(i64::MAX),
        ascending: true,
        size: 5,
        next_token: Some("0".into()),
    };
    let (page, next) = s.list(&all).await.unwrap();
    assert_eq!(
        (page.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), next),
        (vec![ids[5].clone()], None)
    );
    let other_tag = ListFilter {
        tag: Some("FileDetect".into()),
        ..all.clone()
    };
    assert!(s.list(&other_tag).await.unwrap().0.is_empty());
    let too_late = ListFilter {
        created_from: Some(i64::MAX),
        ..all
    };
    assert!(s.list(&too_late).await.unwrap().0.is_empty());

    let bad = ListFilter {
        next_token: Some("garbage".into()),
        ..newest
    };
    assert!(matches!(s.list(&bad).await, Err(JobError::InvalidToken)));
    assert!("Running".parse::<JobState>().is_ok());
    assert!("Bogus".parse::<JobState>().is_err());
}

/// Time as a store's leases and retries see it: SQLite's store times them with the `now`
/// its callers pass, PostgreSQL's with the database clock (and ignores `now`).
pub(crate) trait Clock: Sync {
    /// The `now` to pass to the store.
    fn now(&self) -> i64;
    /// The store's time, to bound the times it records.
    fn store_now(&self) -> BoxFuture<'_, i64>;
    /// Lets `ms` go by for every lease and retry time.
    fn pass(&self, ms: i64) -> BoxFuture<'_, ()>;
}

/// The clock of a store that times leases with its callers' `now`: a counter.
pub(crate) struct CallerClock(AtomicI64);

impl Default for CallerClock {
    fn default() -> Self {
        CallerClock(AtomicI64::new(1_000_000))
    }
}

impl Clock for CallerClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn store_now(&self) -> BoxFuture<'_, i64> {
        Box::pin(async move { self.now() })
    }

    fn pass(&self, ms: i64) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.0.fetch_add(ms, Ordering::SeqCst);
        })
    }
}

pub(crate) async fn leases_are_claimed_renewed_and_reclaimed_after_expiry(
    s: &dyn JobStore,
    c: &dyn Clock,
) {
    let q = s.default_queue("b-1").await.unwrap();
    let j = s.submit(new_job(&q, 0)).await.unwrap();
    let tags = ["FileHashCode"];
    let before = c.store_now().await;
    let a = s
        .claim("worker-a", &tags, c.now(), 60_000)
        .await
        .unwrap()
        .unwrap();
    let after = c.store_now().await;
    assert_eq!(
        (a.id.as_str(), a.state, a.attempts),
        (j.id.as_str(), JobState::Running, 1)
    );
    let expires = a.lease_expires.unwrap();
    assert!((before + 60_000..=after + 60_000).contains(&expires));
    assert!((before..=after).contains(&a.started_at.unwrap()));
    // Nothing else to claim while the lease holds.
    assert!(
        s.claim("worker-b", &tags, c.now(), 60_000)
            .await
            .unwrap()
            .is_none()
    );
    c.pass(30_000).await;
    s.renew(&j.id, "worker-a", c.now(), 120_000, 40)
        .await
        .unwrap();
    // 90 s later the first lease would have run out; the renewed one holds.
    c.pass(90_000).await;
    assert!(
        s.claim("worker-b", &tags, c.now(), 60_000)
            .await
            .unwrap()
            .is_none()
    );
    // worker-a dies; after its lease worker-b takes over.
    c.pass(60_000).await;
    let b = s
        .claim("worker-b", &tags, c.now(), 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (b.id.as_str(), b.attempts, b.progress),
        (j.id.as_str(), 2, 40)
    );
    assert_eq!(b.started_at, a.started_at, "started once");
    assert!(matches!(
        s.renew(&j.id, "worker-a", c.now(), 500, 50).await,
        Err(JobError::LeaseLost)
    ));
    assert!(matches!(
        s.finish(&j.id, "worker-a", c.now(), Outcome::Success(json!({})))
            .await,
        Err(JobError::LeaseLost)
    ));
    let before_end = c.store_now().await;
    let done = s
        .finish(
            &j.id,
            "worker-b",
            c.now(),
            Outcome::Success(json!({"MD5": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            done.state,
            done.progress,
            done.lease_owner,
            done.lease_expires
        ),
        (JobState::Success, 100, None, None)
    );
    let ended = done.ended_at.unwrap();
    assert!(ended >= before_end && ended <= c.store_now().await);
    assert_eq!(done.result, Some(json!({"MD5": "x"})));
    c.pass(1_000_000_000).await;
    assert!(
        s.claim("worker-c", &tags, c.now(), 500)
            .await
            .unwrap()
            .is_none()
    );
}

pub(crate) async fn a_claim_takes_an_expired_lease_first_then_the_oldest_job_of_any_of_its_tags(
    s: &dyn JobStore,
    c: &dyn Clock,
) {
    let q = s.default_queue("b-1").await.unwrap();
    let tagged = |n: u32, tag: &str| NewJob {
        tag: tag.into(),
        ..new_job(&q, n)
    };
    let a = s.submit(tagged(0, "A")).await.unwrap();
    let b = s.submit(tagged(1, "B")).await.unwrap();
    let cc = s.submit(tagged(2, "C")).await.unwrap();
    let a2 = s.submit(tagged(3, "A")).await.unwrap();
    let claim = |tags: &'static [&'static str]| async move {
        s.claim("w", tags, c.now(), 60_000)
            .await
            .unwrap()
            .map(|j| j.id)
    };
    // Oldest over every tag asked for, two at a time or more.
    assert_eq!(claim(&["C", "B", "A"]).await, Some(a.id.clone()));
    assert_eq!(claim(&["C", "B"]).await, Some(b.id.clone()));
    assert_eq!(claim(&["Z"]).await, None);
    assert_eq!(claim(&[]).await, None);
    // `a` and `b` hold leases. Before they expire the oldest queued job comes next; after,
    // an expired lease comes before anything queued.
    assert_eq!(claim(&["C"]).await, Some(cc.id.clone()));
    c.pass(120_000).await;
    assert_eq!(claim(&["A"]).await, Some(a.id.clone()));
    assert_eq!(claim(&["A", "B"]).await, Some(b.id.clone()));
    assert_eq!(claim(&["A"]).await, Some(a2.id.clone()));
}

pub(crate) async fn finishing_a_job_queues_its_callback_durably(s: &dyn JobStore, c: &dyn Clock) {
    let q = s.default_queue("b-1").await.unwrap();
    let plain = s.submit(new_job(&q, 0)).await.unwrap();
    let mut with_cb = new_job(&q, 1);
    with_cb.callback = JobCallback::To(CallbackTarget {
        url: "http://example.com/cb".into(),
        format: None,
    });
    let with_cb = s.submit(with_cb).await.unwrap();
    let mut off = new_job(&q, 9);
    off.callback = JobCallback::Off;
    let off = s.submit(off).await.unwrap();
    for _ in 0..2 {
        let j = s
            .claim("w", &["FileHashCode"], c.now(), 1000)
            .await
            .unwrap()
            .unwrap();
        s.finish(&j.id, "w", c.now(), Outcome::Success(json!({})))
            .await
            .unwrap();
    }
    assert!(
        s.deliveries(&plain.id).await.unwrap().is_empty(),
        "no target, no callback"
    );
    let d = s
        .claim_delivery("cb", c.now(), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            d.job_id.as_str(),
            d.url.as_str(),
            d.format.as_str(),
            d.attempts
        ),
        (with_cb.id.as_str(), "http://example.com/cb", "XML", 0)
    );
    // `d` and the job's hex: a second finish of the job delivers under the same id.
    assert_eq!(d.id, format!("d{}", &with_cb.id[1..]));
    assert!(
        s.claim_delivery("cb2", c.now(), 1000)
            .await
            .unwrap()
            .is_none(),
        "leased"
    );
    // A retry a minute from now.
    s.delivery_attempted(
        &d.id,
        "cb",
        c.now(),
        DeliveryOutcome::Retry {
            error: "503".into(),
            at: c.now() + 60_000,
        },
    )
    .await
    .unwrap();
    c.pass(30_000).await;
    assert!(
        s.claim_delivery("cb", c.now(), 1000)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    c.pass(30_001).await;
    let again = s
        .claim_delivery("cb", c.now(), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (d.id.as_str(), 1));
    assert!(matches!(
        s.delivery_attempted(&d.id, "cb2", c.now(), DeliveryOutcome::Delivered)
            .await,
        Err(JobError::LeaseLost)
    ));
    s.delivery_attempted(
        &d.id,
        "cb",
        c.now(),
        DeliveryOutcome::GiveUp {
            error: "gone".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.deliveries(&with_cb.id).await.unwrap(),
        vec![(
            d.id.clone(),
            "GivenUp".to_string(),
            2,
            Some("gone".to_string())
        )]
    );

    // The queue's NotifyConfig applies when the job names no target (and not to a job
    // submitted with callbacks off).
    s.update_queue(
        &q.id,
        None,
        None,
        Some(QueueNotify {
            settings: json!({"state": "On", "url": "http://q/cb", "result_format": "JSON"}),
            target: Some(CallbackTarget {
                url: "http://q/cb".into(),
                format: Some("JSON".into()),
            }),
        }),
    )
    .await
    .unwrap();
    let shown = s.queue(&q.id).await.unwrap().unwrap();
    assert_eq!(shown.notify.settings["url"], json!("http://q/cb"));
    let j3 = s.submit(new_job(&q, 2)).await.unwrap();
    for _ in 0..2 {
        let job = s
            .claim("w", &["FileHashCode"], c.now(), 1000)
            .await
            .unwrap()
            .unwrap();
        s.finish(
            &job.id,
            "w",
            c.now(),
            Outcome::Failed {
                code: "X".into(),
                message: "y".into(),
            },
        )
        .await
        .unwrap();
    }
    assert!(s.deliveries(&off.id).await.unwrap().is_empty(), "off");
    let d3 = s
        .claim_delivery("cb", c.now(), 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (d3.job_id.as_str(), d3.url.as_str(), d3.format.as_str()),
        (j3.id.as_str(), "http://q/cb", "JSON")
    );
    let failed = s.get(std::slice::from_ref(&j3.id)).await.unwrap();
    assert_eq!(
        (
            failed[0].state,
            failed[0].error_code.as_deref(),
            failed[0].error_message.as_deref()
        ),
        (JobState::Failed, Some("X"), Some("y"))
    );
}

/// Two nodes (`one` and `other`: separate connections to the same database) claim and finish
/// 60 jobs at once; each job is claimed once.
pub(crate) async fn concurrent_workers_claim_each_job_once(
    one: Arc<dyn JobStore>,
    other: Arc<dyn JobStore>,
) {
    let q = one.default_queue("b-1").await.unwrap();
    for n in 0..60 {
        one.submit(new_job(&q, n)).await.unwrap();
    }
    let run = |store: Arc<dyn JobStore>, name: &'static str| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(j) = store
                .claim(name, &["FileHashCode"], 10, 60_000)
                .await
                .unwrap()
            {
                store
                    .finish(&j.id, name, 11, Outcome::Success(json!({})))
                    .await
                    .unwrap();
                mine.push(j.id);
            }
            mine
        })
    };
    let (a, b) = (run(one, "node-a"), run(other, "node-b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    assert_eq!(all.len(), 60);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 60, "a job was claimed twice");
}
