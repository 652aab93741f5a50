//! The core: the services every dialect calls, each the one place its decision is made.
//!
//! - [`hash_jobs`]: `HashJobs` — submit hash jobs, hash an object now, run a hash job.
//! - [`detections`]: `Detections` — submit by upload, object or URL; look up by any hash.
//! - [`detect_run`]: how a worker runs a detection.
//! - [`objects`]: `ObjectStore` — buckets and objects (put, get with ranges, head, list,
//!   copy, delete, metadata rewrite) over the object index and the blob store.
//! - [`multipart`]: `Multipart` — multipart uploads (parts, completion, expiry) over the
//!   upload index and the blob store.
//! - [`uploads`]: `Uploads` — the one streaming receive (hash while writing, under a
//!   limit) behind COS PUT, Alibaba form uploads and `/v1` uploads.
//! - [`workers`]: the one worker pool (leases, renewal, wake-ups); job kinds register
//!   as typed handlers.
//! - [`callbacks`]: durable delivery of job-finished callbacks.
//! - [`cluster`]: this node among the others (id, heartbeat, rate share, active rules).
//! - [`failure`]: neutral failure kinds; each dialect maps them to its own codes.
//! - [`rule_updates`]: rule and intelligence updates on a schedule.
//!
//! Dialects parse, call a service here, and render; no dialect makes these decisions.

pub mod callbacks;
pub mod cluster;
pub mod detect_run;
pub mod detections;
pub mod failure;
pub mod hash_jobs;
pub mod multipart;
pub mod objects;
pub mod rule_updates;
pub mod uploads;
pub mod workers;
