#![allow(clippy::unwrap_used, clippy::expect_used)]
//! TLS both ways, with a CA and certificates generated here. In: the listener with
//! `[http] tls_cert`/`tls_key` speaks https, COS requests work over it, plain HTTP and a
//! client that does not trust the CA are refused, bad files stop the start with a clear
//! error. Out: job callbacks go to an `https://` receiver whose CA is `[outbound] ca_file`,
//! and are not delivered to it without that CA.

mod common;

use std::path::Path;

use common::TestServer;
use hashscan_server::config::Config;
use hashscan_server::{Server, StartError, StartOptions};

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hashscan listener test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn write_pki(dir: &Path, pki: &Pki) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    (cert, key)
}

fn client(ca_pem: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false);
    if let Some(pem) = ca_pem {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

#[tokio::test]
async fn the_port_speaks_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let (cert, key) = write_pki(dir.path(), &pki);
    let data = dir.path().join("data");
    let server = TestServer::start(&data, |c| {
        c.http.tls_cert = Some(cert);
        c.http.tls_key = Some(key);
    })
    .await;
    let https = |path: &str| format!("https://{}{path}", server.addr);
    let trusted = client(Some(&pki.ca_pem));

    let r = trusted.get(https("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A signed COS PUT and GET over TLS.
    let path = "/default-1250000000/tls/hello.txt";
    let r = trusted
        .put(https(path))
        .header("authorization", server.auth("PUT", path))
        .body("over tls")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = trusted
        .get(https(path))
        .header("authorization", server.auth("GET", path))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "over tls");

    // A client that does not trust the CA fails the handshake; plain HTTP gets no answer.
    assert!(client(None).get(https("/healthz")).send().await.is_err());
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // The server still serves after those.
    let r = trusted.get(https("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn bad_tls_files_stop_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let (cert, key) = write_pki(dir.path(), &pki);
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let cases = [
        (Some(garbage.clone()), Some(key.clone()), "certificate"),
        (Some(cert.clone()), Some(garbage.clone()), "key"),
        (
            Some(cert.clone()),
            Some(dir.path().join("missing.pem")),
            "key",
        ),
        (Some(cert.clone()), None, "together"),
        // A key that is not the certificate's.
        (
            Some(cert.clone()),
            Some({
                let other = dir.path().join("other.pem");
                std::fs::write(&other, rcgen::KeyPair::generate().unwrap().serialize_pem())
                    .unwrap();
                other
            }),
            "certificate and key",
        ),
    ];
    for (i, (cert, key, what)) in cases.into_iter().enumerate() {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join(format!("data{i}")),
            http: hashscan_server::listen::HttpConfig {
                tls_cert: cert,
                tls_key: key,
                ..Default::default()
            },
            ..Config::default()
        };
        let err = match Server::start(config, StartOptions::default()).await {
            Ok(_) => panic!("case {i} started"),
            Err(e) => e,
        };
        assert!(matches!(err, StartError::Tls(_)), "case {i}: {err}");
        assert!(err.to_string().contains(what), "case {i}: {err}");
    }
}

/// An https receiver on 127.0.0.1 with a certificate of `pki`'s CA: answers every request
/// 204 and counts the requests it read (after a completed handshake).
async fn https_receiver(pki: &Pki) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let chain =
        vec![rustls::pki_types::CertificateDer::from_pem_slice(pki.cert_pem.as_bytes()).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buf = vec![0u8; 64 * 1024];
                if tls.read(&mut buf).await.unwrap_or(0) > 0 {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, requests)
}

/// Stores `/BUCKET/cb-in` and submits an MD5 hash job of it with `callback`.
async fn hash_job_with_callback(server: &TestServer, callback: &str) {
    let object = format!("/{}/cb-in", common::BUCKET);
    let r = common::no_proxy()
        .put(server.url(&object))
        .header("authorization", server.auth("PUT", &object))
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.md5_job("cb-in", callback).await;
}

#[tokio::test]
async fn https_callbacks_are_delivered_under_the_configured_ca() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let (port, requests) = https_receiver(&pki).await;
    let callback = format!("https://127.0.0.1:{port}/cb");

    // Trusting the CA: delivered over TLS.
    let server = TestServer::start(&dir.path().join("trusting"), |c| {
        c.outbound.allow_private = true;
        c.outbound.ca_file = Some(ca_file.clone());
        c.callbacks.initial_backoff_ms = 100;
    })
    .await;
    hash_job_with_callback(&server, &callback).await;
    server.wait_for_deliveries("delivered", 1.0).await;
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    server.stop().await;

    // Without the CA: the handshake fails, the attempt is retried, nothing is delivered.
    let server = TestServer::start(&dir.path().join("untrusting"), |c| {
        c.outbound.allow_private = true;
        c.callbacks.initial_backoff_ms = 100;
    })
    .await;
    hash_job_with_callback(&server, &callback).await;
    server.wait_for_deliveries("retry", 1.0).await;
    assert_eq!(server.deliveries("delivered").await, 0.0);
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    server.stop().await;
}
