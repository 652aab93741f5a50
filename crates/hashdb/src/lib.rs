//! Hash reputation database for hashscan: known-bad and known-good lists keyed by MD5,
//! SHA-1 or SHA-256.
//!
//! A [`Builder`] reads lists in several formats ([`Format`]: ClamAV `.hdb`/`.hsb`/`.fp`/`.sfp`,
//! plain one-hash-per-line lists, CSV with a header such as MalwareBazaar's export), then
//! [`Builder::build`] sorts and de-duplicates everything into a [`HashDb`]: one sorted vector
//! of fixed-size keys per algorithm with compact side tables, looked up by a prefix index plus
//! binary search. Malformed lines never abort a load; they are counted in the [`LoadReport`].
//!
//! Semantics, in short:
//! - A numeric size in a ClamAV line must equal the file's size for a match; `*` matches any.
//! - The same hash listed twice is kept once (the first one loaded wins), except that a
//!   known-good entry always replaces a known-bad one for the same hash, as ClamAV's `.fp`
//!   allow-lists do.
//! - [`HashDb::lookup`] checks a file's three digests; a good match wins over a bad one.
//!
//! ```
//! use hashscan_hashdb::{Digests, Format, HashDb, ListKind};
//! let mut b = HashDb::builder();
//! let list = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";
//! let report = b.load_reader(list.as_bytes(), Format::Hdb, ListKind::Bad, "test.hdb").unwrap();
//! assert_eq!(report.entries, 1);
//! let db = b.build();
//! let md5 = [0x44, 0xd8, 0x86, 0x12, 0xfe, 0xa8, 0xa8, 0xf3,
//!            0x6d, 0xe8, 0x2e, 0x12, 0x78, 0xab, 0xb0, 0x2f];
//! let hit = db.lookup_md5(&md5, Some(68)).unwrap();
//! assert_eq!((hit.kind, hit.name), (ListKind::Bad, "Eicar-Test-Signature"));
//! assert!(db.lookup_md5(&md5, Some(69)).is_none()); // size constraint
//! let digests = Digests { md5, sha1: [0; 20], sha256: [0; 32] };
//! assert!(db.lookup(&digests, 68).is_some());
//! ```

// Modules, lowest first; each uses only modules listed before it, never the crate root:
// `error`, `hex`, `line` (no crate imports); `types` (shared value types); `csv`, `format`,
// `report`; `intern` (label interning); `entries` (entries collected while loading);
// `parse` (list formats into entries) and `db` (entries built into the immutable database);
// `builder`, the public face that ties loading and building together. This file only
// declares and re-exports.
mod builder;
mod csv;
mod db;
mod entries;
mod error;
mod format;
mod hex;
mod intern;
mod line;
mod parse;
mod report;
mod types;

pub use builder::Builder;
pub use db::HashDb;
pub use error::HashDbError;
pub use format::Format;
pub use parse::MAX_NAME_LEN;
pub use report::{LoadReport, MAX_REPORTED_PROBLEMS, Problem};
pub use types::{Algorithm, Digests, HashValue, Hit, ListKind};
