//! What every [`JobStore`] must do, written once and run against each backend: the tests of
//! `meta::sqlite::jobs` and `meta::postgres::jobs` call these with their own store. Only
//! behaviour that does not depend on whose clock times the leases is here; lease expiry is
//! tested per backend (SQLite takes the caller's time, PostgreSQL its own).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use crate::meta::jobs::{
    JobCallback, JobError, JobState, JobStore, ListFilter, NewJob, Queue, QueueState,
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
