//! The Alibaba Cloud Security Center dialect (Sas 2018-12-03, RPC style): the file-detection
//! API that `alibabacloud-sas20181203`, `alibabacloud-filedetect` and the legacy
//! `aliyun-python-sdk-sas` speak (spec: `shared/specs/detection-apis.md` §1–§2).
//!
//! Every call is `POST /?<params>` with an empty body, signed with ACS3-HMAC-SHA256 (V3, the
//! default) or the RPC HMAC-SHA1 `Signature` parameter (V2); answers are flat JSON, errors JSON
//! with `Code`/`Message`. Files reach the service either by URL or through an emulated OSS
//! PostObject upload whose credentials `CreateFileDetectUploadUrl` hands out.
//!
//! Reading order, as a request goes through it:
//! 1. [`auth`] authenticates it ([`auth::authenticate`]: V3 or V2 via `hashscan_auth`), then
//!    refuses a replayed nonce ([`auth::remember_nonce`], through the shared state of
//!    [`crate::meta::shared`]); [`guard`] holds the per-key rate limit
//!    ([`guard::RateLimiter`]);
//! 2. [`params`] parses it ([`params::RpcRequest`]) and validates it against the scheme that
//!    signed it into one typed request per action ([`params::SasRequest`]);
//! 3. the handlers (`actions.rs`, added by the dialect's integration) call the core, which
//!    decides, and render [`model`] bodies; every error is a [`error::SasError`] from the one
//!    table in [`error`];
//! 4. [`upload`] is the upload host: it issues PostObject policies and checks and streams the
//!    multipart uploads, with OSS's XML errors.
//!
//! This layer is pure: no handler, no store, no clock of its own (times are parameters).
//! Decisions on points the spec leaves open are documented in each module.

pub mod actions;
pub mod auth;
pub mod error;
pub mod guard;
pub mod model;
pub mod params;
pub mod upload;
