//! What every [`DetectionIndex`] must do, written once and run against each backend: the
//! tests of `meta::sqlite::detections` and `meta::postgres::detections` call these with
//! their own index, the job store it writes detections' jobs to, and a queue of
//! [`QUEUE_BUCKET`]. What only one backend can show (PostgreSQL: nodes racing on a client
//! token) stays with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use hashscan_detect::Report;
use serde_json::json;

use crate::meta::detections::{
    Detection, DetectionIndex, KeptFile, KeyColumn, NewDetection, Options, Probe, Reuse, Source,
    State, StateFilter, Tiers, Upload,
};
use crate::meta::jobs::{DETECT_TAG, JobError, JobState, JobStore, Queue};

/// The pseudo-bucket of the detection queue the tests insert into.
pub(crate) const QUEUE_BUCKET: &str = "detect-queue";
const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";
const SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
const DAY: i64 = 86_400_000;

/// A detection of a URL, 68 bytes, archives expanded two levels deep.
pub(crate) fn new_detection(sha256: Option<&str>) -> NewDetection {
    let mut new = NewDetection::new(
        Source::Url {
            url: "http://example.com/f".into(),
        },
        Some(68),
        Options {
            decompress: true,
            max_layer: Some(2),
            max_files: None,
        },
    );
    new.sha256 = sha256.map(str::to_string);
    new
}

fn report(ruleset: &str) -> Report {
    serde_json::from_value(json!({
        "verdict": "clean", "score": 0, "threat_type": null, "threat_name": null,
        "hits": [], "labels": [], "archive": null, "size": 68,
        "md5": MD5, "sha1": SHA1, "sha256": SHA256,
        "ruleset": ruleset, "notes": []
    }))
    .unwrap()
}

/// An upload slot for a file of at most `max_size` bytes named by [`MD5`], expiring at 10,000,
/// its file not arrived.
fn slot(oss_key: &str, max_size: u64) -> Upload {
    Upload {
        oss_key: oss_key.into(),
        hash_key: MD5.into(),
        access_key: "AK".into(),
        max_size,
        expires_at: 10_000,
        sha256: None,
        md5: None,
        sha1: None,
        size: None,
    }
}

/// The 68-byte file every detection of these tests is of.
fn kept_file() -> KeptFile {
    KeptFile {
        size: 68,
        md5: MD5.into(),
        sha1: SHA1.into(),
        sha256: SHA256.into(),
    }
}

async fn insert(
    d: &dyn DetectionIndex,
    q: &Queue,
    new: &NewDetection,
    reuse: &Reuse,
    now: i64,
) -> String {
    d.insert(new, reuse, (&q.id, QUEUE_BUCKET), now, now + DAY)
        .await
        .unwrap()
}

pub(crate) async fn a_detection_and_its_job_are_inserted_together(
    d: &dyn DetectionIndex,
    jobs: &dyn JobStore,
    q: &Queue,
) {
    let mut new = new_detection(None);
    new.hash_key = Some(MD5.into());
    let id = insert(d, q, &new, &Reuse::Never, 1_000).await;
    let got = d.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.state,
            got.hash_key.as_deref(),
            got.size,
            got.created_at,
            got.expires_at
        ),
        (State::Detecting, Some(MD5), Some(68), 1_000, 1_000 + DAY)
    );
    assert_eq!((got.source, got.options), (new.source.clone(), new.options));
    let job = jobs.get(std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(
        (job[0].tag.as_str(), job[0].state, &job[0].input),
        (
            DETECT_TAG,
            JobState::Submitted,
            &json!({"kind": "url", "url": "http://example.com/f"})
        )
    );
    assert!(d.get("fnope").await.unwrap().is_none());
    // No queue, no job, no detection.
    assert!(matches!(
        d.insert(&new, &Reuse::Never, ("pnope", QUEUE_BUCKET), 1, 2)
            .await,
        Err(JobError::NoSuchQueue)
    ));
}

pub(crate) async fn a_client_token_or_a_newer_rescan_is_reused(d: &dyn DetectionIndex, q: &Queue) {
    let mut new = new_detection(None);
    new.client_token = Some("token-1".into());
    let token = Reuse::ClientToken("token-1".into());
    let first = insert(d, q, &new, &token, 1_000).await;
    assert_eq!(insert(d, q, &new, &token, 2_000).await, first);
    let mut new2 = new_detection(None);
    new2.client_token = Some("token-2".into());
    let other = insert(d, q, &new2, &Reuse::ClientToken("token-2".into()), 2_000).await;
    assert_ne!(other, first);
    let plain = new_detection(None);
    assert_ne!(insert(d, q, &plain, &Reuse::Never, 2_000).await, first);
    // Expired: a new one.
    assert_ne!(insert(d, q, &new, &token, 1_000 + DAY).await, first);

    let rescan = new_detection(Some(SHA256));
    let stale = insert(d, q, &rescan, &Reuse::Never, 5_000).await;
    let newer = |after| Reuse::NewerOfSha256 {
        sha256: SHA256.into(),
        after,
    };
    let again = insert(d, q, &rescan, &newer(5_000), 6_000).await;
    assert_ne!(again, stale);
    assert_eq!(insert(d, q, &rescan, &newer(5_000), 7_000).await, again);
    assert_eq!(insert(d, q, &rescan, &newer(4_999), 7_000).await, again);
}

/// Tiers as the detection service makes them for an MD5, and by id.
const T_DONE: StateFilter = StateFilter::Only(State::Done);
const MD5_TIERS: Tiers = &[
    &[Probe {
        column: KeyColumn::Md5,
        states: T_DONE,
    }],
    &[Probe {
        column: KeyColumn::Md5,
        states: StateFilter::Only(State::Detecting),
    }],
    &[
        Probe {
            column: KeyColumn::Md5,
            states: StateFilter::Only(State::Failed),
        },
        Probe {
            column: KeyColumn::HashKey,
            states: StateFilter::NotDone,
        },
    ],
];
const ID_TIERS: Tiers = &[&[Probe {
    column: KeyColumn::Id,
    states: StateFilter::Any,
}]];

pub(crate) async fn lookups_take_the_first_tier_with_a_row_and_its_newest_row(
    d: &dyn DetectionIndex,
    q: &Queue,
) {
    let newest = |keys: Vec<(&str, Tiers)>, now: i64| {
        let keys = keys
            .into_iter()
            .map(|(k, t)| (k.to_string(), t))
            .collect::<Vec<_>>();
        async move { d.newest(keys, now).await.unwrap() }
    };
    let ids = |m: &HashMap<String, Arc<Detection>>, k: &str| m.get(k).map(|d| d.id.clone());

    // Only a detection submitted under the hash: the last tier finds it.
    let mut named = new_detection(None);
    named.hash_key = Some(MD5.into());
    let by_key = insert(d, q, &named, &Reuse::Never, 1_000).await;
    let m = newest(vec![(MD5, MD5_TIERS)], 2_000).await;
    assert_eq!(ids(&m, MD5), Some(by_key.clone()));

    // A running detection of a file with this MD5 comes before it.
    let mut running = new_detection(None);
    running.md5 = Some(MD5.into());
    let run = insert(d, q, &running, &Reuse::Never, 1_100).await;
    let m = newest(vec![(MD5, MD5_TIERS)], 2_000).await;
    assert_eq!(ids(&m, MD5), Some(run.clone()));

    // And a Done one before that, even when older than the running one.
    let done = insert(d, q, &running, &Reuse::Never, 900).await;
    d.complete(&done, &report("r1"), 1_500).await.unwrap();
    let unknown = "0123456789abcdef0123456789abcdef";
    let m = newest(
        vec![
            (MD5, MD5_TIERS),
            (unknown, MD5_TIERS),
            (run.as_str(), ID_TIERS),
            (MD5, MD5_TIERS),
        ],
        2_000,
    )
    .await;
    assert_eq!(m.len(), 2);
    assert_eq!(ids(&m, MD5), Some(done.clone()));
    assert_eq!(ids(&m, &run), Some(run.clone()));
    let found = m[MD5].clone();
    assert_eq!(
        (
            found.state,
            found.sha256.as_deref(),
            found.finished_at,
            found.report.as_ref().map(|r| r.ruleset.as_str())
        ),
        (State::Done, Some(SHA256), Some(1_500), Some("r1"))
    );
    // A finished detection is read once while unchanged.
    let again = newest(vec![(MD5, MD5_TIERS)], 2_000).await;
    assert!(Arc::ptr_eq(&again[MD5], &found));
    // Finished again (another worker after a lost lease): read anew.
    d.complete(&done, &report("r2"), 1_600).await.unwrap();
    let again = newest(vec![(MD5, MD5_TIERS)], 2_000).await;
    assert_eq!(
        again[MD5].report.as_ref().map(|r| r.ruleset.as_str()),
        Some("r2")
    );
    // Expired rows are not found.
    assert_eq!(
        ids(&newest(vec![(MD5, MD5_TIERS)], 900 + DAY).await, MD5),
        Some(run.clone()),
        "the Done one expired, the running one not yet"
    );
    assert!(newest(vec![(MD5, MD5_TIERS)], 1_100 + DAY).await.is_empty());

    // A failure: state, code, message.
    d.fail(&run, "Timeout", "took too long", 1_700)
        .await
        .unwrap();
    let failed = d.get(&run).await.unwrap().unwrap();
    assert_eq!(
        (
            failed.state,
            failed.error_code.as_deref(),
            failed.error_message.as_deref(),
            failed.finished_at
        ),
        (
            State::Failed,
            Some("Timeout"),
            Some("took too long"),
            Some(1_700)
        )
    );
    // Within the last tier, the newer of the failed one and the one named by the hash.
    assert_eq!(
        ids(&newest(vec![(MD5, MD5_TIERS)], 950 + DAY).await, MD5),
        Some(run)
    );
    d.fail(&by_key, "Mismatch", "not that file", 1_800)
        .await
        .unwrap();
    let newest_named = insert(d, q, &named, &Reuse::Never, 1_200).await;
    d.fail(&newest_named, "Mismatch", "not that file", 1_900)
        .await
        .unwrap();
    assert_eq!(
        ids(&newest(vec![(MD5, MD5_TIERS)], 950 + DAY).await, MD5),
        Some(newest_named)
    );
}

pub(crate) async fn upload_slots_and_kept_files(d: &dyn DetectionIndex, q: &Queue) {
    let slot = slot("upload/abc", 1 << 20);
    d.create_upload(&slot, 1_000).await.unwrap();
    assert_eq!(
        d.upload("upload/abc", 2_000).await.unwrap(),
        Some(slot.clone())
    );
    assert_eq!(
        d.upload("upload/abc", 10_000).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(d.upload("upload/nope", 2_000).await.unwrap(), None);
    assert!(
        d.create_upload(&slot, 1_000).await.is_err(),
        "one slot per key"
    );
    assert_eq!(d.kept_file(MD5, 2_000).await.unwrap(), None, "not arrived");

    let file = kept_file();
    d.upload_received("upload/abc", &file, 3_000, 20_000)
        .await
        .unwrap();
    let got = d.upload("upload/abc", 15_000).await.unwrap().unwrap();
    assert_eq!(
        (got.size, got.md5.as_deref(), got.sha256.as_deref()),
        (Some(68), Some(MD5), Some(SHA256))
    );
    assert_eq!(d.kept_file(MD5, 15_000).await.unwrap(), Some(file.clone()));
    assert_eq!(
        d.kept_file(SHA256, 15_000).await.unwrap(),
        Some(file.clone())
    );
    assert_eq!(
        d.kept_file(SHA1, 15_000).await.unwrap(),
        None,
        "by MD5 or SHA-256"
    );
    assert_eq!(d.kept_file(MD5, 20_000).await.unwrap(), None);

    // A finished detection records the file too.
    let id = insert(d, q, &new_detection(None), &Reuse::Never, 1_000).await;
    d.complete(&id, &report("r"), 2_000).await.unwrap();
    assert_eq!(d.kept_file(SHA256, 20_000).await.unwrap(), Some(file));
}

pub(crate) async fn sweeping_deletes_expired_rows_and_answers_files_no_row_names(
    d: &dyn DetectionIndex,
    q: &Queue,
) {
    let other = "a".repeat(64);
    // SHA256: a detection expiring at 1_000 + DAY, an upload slot at 50_000.
    let id = insert(d, q, &new_detection(Some(SHA256)), &Reuse::Never, 1_000).await;
    let slot = slot("upload/1", 100);
    d.create_upload(&slot, 1_000).await.unwrap();
    let file = kept_file();
    d.upload_received("upload/1", &file, 2_000, 50_000)
        .await
        .unwrap();
    // `other`: one detection expiring at 2_000 + DAY.
    let gone = insert(d, q, &new_detection(Some(&other)), &Reuse::Never, 2_000).await;
    // Nothing expired yet.
    assert!(d.sweep(40_000).await.unwrap().is_empty());
    // The slot expired; the detection still names SHA256.
    assert!(d.sweep(50_000).await.unwrap().is_empty());
    assert_eq!(d.upload("upload/1", 0).await.unwrap(), None);
    assert_eq!(
        d.sweep(2_000 + DAY).await.unwrap(),
        vec![SHA256.to_string(), other]
    );
    assert!(d.get(&id).await.unwrap().is_none());
    assert!(d.get(&gone).await.unwrap().is_none());
}
