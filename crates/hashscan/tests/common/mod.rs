//! Helpers shared by the tests that run `hashscan serve` as a child process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Spawns `command` (a `hashscan serve ...` with stdout piped) and waits for its
/// `listening on http://HOST:PORT` line; returns the child and `HOST:PORT`.
pub fn spawn_listening(command: &mut Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, addr)
}

/// A callback receiver on a loopback port: answers 503 while `down` (counting `refused`),
/// else 200, recording (delivery id, body) in `got`. Each connection has its own thread.
#[allow(dead_code)] // not every test file receives callbacks
pub struct Receiver {
    pub url: String,
    pub down: Arc<AtomicBool>,
    pub refused: Arc<AtomicUsize>,
    pub got: Arc<Mutex<Vec<(String, String)>>>,
}

#[allow(dead_code)]
pub fn receiver() -> Receiver {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let r = Receiver {
        url: format!("http://{}/cb", listener.local_addr().unwrap()),
        down: Arc::default(),
        refused: Arc::default(),
        got: Arc::default(),
    };
    let (down, refused, got) = (r.down.clone(), r.refused.clone(), r.got.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (down, refused, got) = (down.clone(), refused.clone(), got.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut len, mut id) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if let Some(v) = lower.strip_prefix("x-hashscan-delivery-id:") {
                        id = v.trim().to_string();
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let status = if down.load(Ordering::SeqCst) {
                    refused.fetch_add(1, Ordering::SeqCst);
                    "503 Service Unavailable"
                } else {
                    got.lock()
                        .unwrap()
                        .push((id, String::from_utf8_lossy(&body).into_owned()));
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            });
        }
    });
    r
}
