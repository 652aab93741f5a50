#![no_main]
//! The Alibaba form upload (OSS PostObject emulation): an arbitrary `Content-Type` (first
//! line) and body (the rest) through `parse_form`, the policy and signature check `verify`
//! and the streamed file part to its end. Nothing may panic or hang, every error must
//! render, and the file part never yields more than the limit allows.

use hashscan_auth::Secret;
use hashscan_server::aliyun::upload::{FormLimits, OssError, parse_form, verify};
use libfuzzer_sys::fuzz_target;

/// One runtime for every input (building one per input would cost more than the parsing).
fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RT: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let content_type = String::from_utf8_lossy(head).into_owned();
    let body = bytes::Bytes::copy_from_slice(body);
    let Some(rt) = runtime() else {
        return;
    };
    let limits = FormLimits {
        max_file: 4096,
        max_pre_data: 1024,
        max_fields: 8,
    };
    rt.block_on(async {
        // Split into small pieces so that boundaries fall across reads.
        let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = body
            .chunks(7)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let stream = futures_util::stream::iter(pieces);
        match parse_form(&content_type, stream, &limits).await {
            Ok((form, mut file)) => {
                let keys = |id: &str| (id == "AKID").then(|| Secret::new("secret"));
                match verify(&form, &keys, 1_700_000_000_000) {
                    Ok(policy) => {
                        let _ = policy.check_size(1);
                    }
                    Err(e) => {
                        let _ = e.response("rid", "host");
                    }
                }
                file.limit(limits.max_file);
                let mut total = 0u64;
                loop {
                    match file.chunk().await {
                        Ok(Some(c)) => {
                            total += c.len() as u64;
                            assert!(total <= limits.max_file);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = OssError::from(e).response("rid", "host");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                let _ = e.response("rid", "host");
            }
        }
    });
});
