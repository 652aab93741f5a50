//! One running algorithm, and a group of them updated one after the other.

use sha1::Digest as _;

use crate::{Algorithm, AlgorithmSet, Digest};

/// The running state of one algorithm.
pub(crate) enum State {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(Box<sha2::Sha512>),
    Crc64(crc_fast::Digest),
    Crc32c(crc_fast::Digest),
    Blake3(Box<blake3::Hasher>),
}

impl State {
    pub(crate) fn new(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Md5 => State::Md5(md5::Md5::new()),
            Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => State::Sha512(Box::new(sha2::Sha512::new())),
            Algorithm::Crc64 => {
                State::Crc64(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Xz))
            }
            Algorithm::Crc32c => {
                State::Crc32c(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi))
            }
            Algorithm::Blake3 => State::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            State::Md5(h) => h.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
            State::Crc64(h) | State::Crc32c(h) => h.update(data),
            State::Blake3(h) => {
                h.update(data);
            }
        }
    }

    pub(crate) fn finish(self) -> Digest {
        match self {
            State::Md5(h) => Digest::new(Algorithm::Md5, &h.finalize()),
            State::Sha1(h) => Digest::new(Algorithm::Sha1, &h.finalize()),
            State::Sha256(h) => Digest::new(Algorithm::Sha256, &h.finalize()),
            State::Sha512(h) => Digest::new(Algorithm::Sha512, &h.finalize()),
            State::Crc64(h) => Digest::new(Algorithm::Crc64, &h.finalize().to_be_bytes()),
            State::Crc32c(h) => {
                // crc-fast returns 32-bit CRCs widened to u64.
                let v = h.finalize() as u32;
                Digest::new(Algorithm::Crc32c, &v.to_be_bytes())
            }
            State::Blake3(h) => Digest::new(Algorithm::Blake3, h.finalize().as_bytes()),
        }
    }
}

/// Size of the pieces a [`Group`] feeds its states: well inside L2.
const PIECE: usize = 64 * 1024;

/// Several algorithms fed the same bytes one after the other on the calling thread.
pub(crate) struct Group(Vec<State>);

impl Group {
    pub(crate) fn new(algs: impl IntoIterator<Item = Algorithm>) -> Self {
        Group(algs.into_iter().map(State::new).collect())
    }

    pub(crate) fn of(set: AlgorithmSet) -> Self {
        Group::new(set.iter())
    }

    /// Feeds `data` to every state, a cache-sized piece at a time so that each piece is
    /// read from memory once and from cache by the other algorithms.
    pub(crate) fn update(&mut self, data: &[u8]) {
        if let [only] = self.0.as_mut_slice() {
            only.update(data);
            return;
        }
        for piece in data.chunks(PIECE) {
            for s in &mut self.0 {
                s.update(piece);
            }
        }
    }

    pub(crate) fn finish(self) -> Vec<Digest> {
        self.0.into_iter().map(State::finish).collect()
    }
}
