#![no_main]
//! CI request bodies (`POST /file_jobs`, `PUT|POST /file_queue/<id>`) over arbitrary bytes.
//! Nothing may panic; every error carries one of the three CI codes; whatever validates
//! keeps the promises of the typed structs.

use hashscan_server::cos::ci_xml::{
    MAX_USER_DATA, parse_file_job, parse_queue_update, validate_hash_job, validate_queue_update,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codes = ["MissingContent", "InvalidContent", "InvalidArgument"];
    match parse_file_job(data) {
        Ok(request) => match validate_hash_job(&request) {
            Ok(job) => {
                assert!(!job.object.is_empty());
                if let Some(user_data) = &job.user_data {
                    assert!(user_data.len() <= MAX_USER_DATA);
                    assert!(user_data.bytes().all(|b| (b' '..=b'~').contains(&b)));
                }
            }
            Err(e) => assert_eq!(e.code(), "InvalidArgument"),
        },
        Err(e) => assert!(codes.contains(&e.code())),
    }
    match parse_queue_update(data) {
        Ok(update) => match validate_queue_update(&update) {
            Ok(valid) => {
                if let Some(notify) = &valid.notify {
                    assert!(!notify.enabled || notify.url.is_some());
                    assert!(!notify.events.is_empty());
                }
            }
            Err(e) => assert_eq!(e.code(), "InvalidArgument"),
        },
        Err(e) => assert!(codes.contains(&e.code())),
    }
});
