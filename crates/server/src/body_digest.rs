//! A request body checked against a digest while it is read: the signature of a request
//! covers a digest header (`x-cos-content-sha256`, `Content-MD5`), and the body must hash to
//! it. The reader of the body sees the bytes as they come; the last read fails with
//! [`BodyMismatch`] if they did not hash to what was signed. Which requests must be bound
//! this way is the dialect's rule (`/v1`: `native/binding.rs`).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream};
use bytes::Bytes;
use futures_util::Stream;
use hashscan_digest::{Algorithm, AlgorithmSet, Hasher};

/// What the body must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No digest header: the body must be empty.
    Empty,
    Sha256([u8; 32]),
    Md5([u8; 16]),
}

/// The body did not match the signed digest (or was not empty without one).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyMismatch(pub &'static str);

/// Whether reading a body failed because it did not hash to its digest ([`BodyMismatch`]
/// somewhere in the error's chain).
pub fn is_mismatch(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if err.is::<BodyMismatch>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// `body`, checked while it is read: the last read fails with [`BodyMismatch`] when the
/// bytes do not hash to `expect` (an [`Expect::Empty`] body fails at its first byte).
pub fn verify(body: Body, expect: Expect) -> Body {
    let algorithm = match expect {
        Expect::Md5(_) => Some(Algorithm::Md5),
        Expect::Sha256(_) => Some(Algorithm::Sha256),
        Expect::Empty => None,
    };
    Body::from_stream(Verifying {
        inner: body.into_data_stream(),
        hasher: algorithm.map(|a| Hasher::new(AlgorithmSet::one(a))),
        expect,
        done: false,
    })
}

struct Verifying {
    inner: BodyDataStream,
    hasher: Option<Hasher>,
    expect: Expect,
    done: bool,
}

impl Stream for Verifying {
    type Item = Result<Bytes, axum::BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                if chunk.is_empty() {
                    return Poll::Ready(Some(Ok(chunk)));
                }
                match self.hasher.as_mut() {
                    Some(h) => {
                        h.update(&chunk);
                        Poll::Ready(Some(Ok(chunk)))
                    }
                    None => {
                        self.done = true;
                        Poll::Ready(Some(Err(BodyMismatch(
                            "The request has a body but its signature covers no digest of it: send x-cos-content-sha256 (or Content-MD5) and sign it.",
                        )
                        .into())))
                    }
                }
            }
            Poll::Ready(None) => {
                self.done = true;
                let Some(h) = self.hasher.take() else {
                    return Poll::Ready(None);
                };
                let digests = h.finish();
                let matches = match &self.expect {
                    Expect::Sha256(want) => digests
                        .get(Algorithm::Sha256)
                        .is_some_and(|d| d.as_bytes() == want),
                    Expect::Md5(want) => digests
                        .get(Algorithm::Md5)
                        .is_some_and(|d| d.as_bytes() == want),
                    Expect::Empty => true,
                };
                if matches {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(BodyMismatch(
                        "The body does not match its signed digest (x-cos-content-sha256 or Content-MD5).",
                    )
                    .into())))
                }
            }
        }
    }
}
