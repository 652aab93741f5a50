//! Two nodes on one PostgreSQL and one S3 bucket (a real Garage), in this process: what one
//! node stores the other serves, a multipart upload whose parts arrive through different
//! nodes completes, and an outage of PostgreSQL or of S3 is answered with COS's
//! ServiceUnavailable — nothing lost, everything back once it returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/services.rs"]
mod services;

use std::time::Duration;

use common::{AK, BUCKET, SK, TestServer, no_proxy};
use hashscan_server::config::Config;
use services::{Garage, Postgres};

async fn node(dir: &std::path::Path, pg: &Postgres, s3: &Garage, prefix: &str) -> TestServer {
    let (url, bucket, endpoint) = (pg.url(), s3.bucket.clone(), s3.endpoint());
    let (key, secret) = (s3.key_id.clone(), s3.secret.clone());
    let prefix = prefix.to_string();
    TestServer::start(dir, move |c: &mut Config| {
        c.meta.url = Some(url);
        c.blobs.url = Some(format!("s3://{bucket}/{prefix}"));
        c.blobs.endpoint = Some(endpoint);
        c.blobs.region = Some("garage".into());
        c.blobs.access_key_id = Some(key);
        c.blobs.secret_access_key = Some(secret);
        c.blobs.allow_http = Some(true);
        c.workers = 2;
    })
    .await
}

async fn signed(server: &TestServer, method: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
    no_proxy()
        .request(method.parse().unwrap(), server.url(path))
        .header("authorization", server.auth_covering(SK, method, path, &[]))
        .body(body)
        .send()
        .await
        .unwrap()
}

fn between<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    text.split(&format!("<{tag}>"))
        .skip(1)
        .filter_map(|s| s.split(&format!("</{tag}>")).next())
        .collect()
}

async fn code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        between(&text, "Code").first().unwrap_or(&"").to_string(),
    )
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|x| (x.wrapping_mul(seed | 1).rotate_left(7) >> 5) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_objects_uploads_and_survive_outages() {
    let (Some(pg), Some(s3)) = (Postgres::start(), Garage::start()) else {
        return;
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let n1 = node(d1.path(), &pg, &s3, "shared").await;
    let n2 = node(d2.path(), &pg, &s3, "shared").await;
    let _ = AK;

    // PUT through node 1, GET (whole and a range) through node 2.
    let big = data(20 << 20, 7);
    let key = format!("/{BUCKET}/dir/big.bin");
    let r = signed(&n1, "PUT", &key, big.clone()).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = signed(&n2, "GET", &key, vec![]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert!(r.bytes().await.unwrap() == big);
    let r = no_proxy()
        .get(n2.url(&key))
        .header("authorization", n2.auth_covering(SK, "GET", &key, &[]))
        .header("range", "bytes=1000-2999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == big[1000..3000]);

    // A copy on node 2, a delete of the original on node 1: the copy still reads whole.
    let copy = format!("/{BUCKET}/copy.bin");
    let r = no_proxy()
        .put(n2.url(&copy))
        .header("authorization", n2.auth_covering(SK, "PUT", &copy, &[]))
        .header("x-cos-copy-source", format!("/{BUCKET}/dir/big.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(signed(&n1, "DELETE", &key, vec![]).await.status(), 204);
    assert_eq!(
        code(signed(&n2, "GET", &key, vec![]).await).await,
        (404, "NoSuchKey".into())
    );
    let r = signed(&n1, "GET", &copy, vec![]).await;
    assert!(r.bytes().await.unwrap() == big);

    // A multipart upload begun on node 1, parts through both nodes, completed on node 2.
    let mp = format!("/{BUCKET}/mp.bin");
    let r = signed(&n1, "POST", &format!("{mp}?uploads"), vec![]).await;
    let id = between(&r.text().await.unwrap(), "UploadId")[0].to_string();
    let (p1, p2) = (data(5 << 20, 3), data(1 << 20, 5));
    let mut etags = Vec::new();
    for (n, (node, part)) in [(&n1, &p1), (&n2, &p2)].into_iter().enumerate() {
        let path = format!("{mp}?partNumber={}&uploadId={id}", n + 1);
        let r = signed(node, "PUT", &path, part.clone()).await;
        assert_eq!(r.status(), 200);
        etags.push(r.headers()["etag"].to_str().unwrap().to_string());
    }
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        etags[0], etags[1]
    );
    let r = signed(
        &n2,
        "POST",
        &format!("{mp}?uploadId={id}"),
        body.into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = signed(&n1, "GET", &mp, vec![]).await;
    assert!(r.bytes().await.unwrap() == [p1.clone(), p2.clone()].concat());

    // PostgreSQL down: COS's ServiceUnavailable, readiness says why; back when it returns.
    pg.stop();
    let r = signed(&n1, "HEAD", &copy, vec![]).await;
    assert_eq!(r.status(), 503);
    let (status, code_) =
        code(signed(&n2, "PUT", &format!("/{BUCKET}/during"), b"x".to_vec()).await).await;
    assert_eq!((status, code_.as_str()), (503, "ServiceUnavailable"));
    let r = no_proxy().get(n1.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    pg.resume();
    let mut back = false;
    for _ in 0..100 {
        if signed(&n2, "PUT", &format!("/{BUCKET}/after-pg"), b"y".to_vec())
            .await
            .status()
            == 200
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "node 2 did not recover from the database outage");
    let r = signed(&n1, "GET", &format!("/{BUCKET}/after-pg"), vec![]).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"y");

    // S3 down: uploads and reads answer ServiceUnavailable; nothing half-stored.
    s3.stop();
    let (status, code_) = code(
        signed(
            &n1,
            "PUT",
            &format!("/{BUCKET}/during-s3"),
            data(1 << 20, 9),
        )
        .await,
    )
    .await;
    assert_eq!((status, code_.as_str()), (503, "ServiceUnavailable"));
    let (status, code_) = code(signed(&n2, "GET", &copy, vec![]).await).await;
    assert_eq!((status, code_.as_str()), (503, "ServiceUnavailable"));
    let r = no_proxy().get(n2.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    s3.resume();
    let (status, code_) =
        code(signed(&n2, "GET", &format!("/{BUCKET}/during-s3"), vec![]).await).await;
    assert_eq!((status, code_.as_str()), (404, "NoSuchKey"));
    let r = signed(&n2, "GET", &copy, vec![]).await;
    assert!(r.bytes().await.unwrap() == big);
    let r = no_proxy().get(n2.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    n1.stop().await;
    n2.stop().await;
}
