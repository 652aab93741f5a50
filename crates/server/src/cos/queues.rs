//! The rest of the CI file-processing family: job listing (`GET /jobs`), cancellation
//! (`PUT /jobs/<id>?cancel`) and file-processing queues (`GET /file_queue`,
//! `PUT|POST /file_queue/<id>`), cos-ci.md §2.4–§2.6.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Ctx;
use super::ci::cos_time;
use super::ci_xml::{self, QueueState as WireQueueState};
use super::error::CosError;
use super::file_jobs::jobs_detail;
use crate::core::hash_jobs::CancelError;
use crate::meta::jobs::{CallbackTarget, JobState, ListFilter, Queue, QueueNotify, QueueState};
use crate::xml::XmlWriter;

/// Largest page of `GET /jobs` (COS: 100).
pub const MAX_LIST_SIZE: usize = 100;

/// Whether `method key` (with the query in `ctx`) is one of these operations rather than an
/// object operation. On a cos host only unambiguous forms are taken.
pub fn is_queue_or_list(ctx: &Ctx<'_>, key: &str, ci_host: bool) -> bool {
    let m = &ctx.method;
    match key {
        "jobs" => {
            *m == Method::GET && (ci_host || ctx.has_param("tag") || ctx.has_param("queueType"))
        }
        "file_queue" => *m == Method::GET,
        _ => {
            if let Some(id) = key.strip_prefix("file_queue/") {
                (*m == Method::PUT || *m == Method::POST)
                    && (ci_host || crate::meta::jobs::looks_like_id('p', id))
            } else if key.strip_prefix("jobs/").is_some() {
                *m == Method::PUT && ctx.has_param("cancel")
            } else {
                false
            }
        }
    }
}

/// Handles a request [`is_queue_or_list`] accepted.
pub async fn handle(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: Option<&str>,
    key: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let found = ctx.bucket(bucket, region, false).await?;
    if key == "jobs" {
        list(ctx, &found.name).await
    } else if let Some(ids) = key.strip_prefix("jobs/") {
        cancel(ctx, &found.name, ids).await
    } else if key == "file_queue" {
        describe_queues(ctx, &found.name).await
    } else {
        let id = key.strip_prefix("file_queue/").unwrap_or_default();
        update_queue(ctx, &found.name, id, body).await
    }
}

/// `2001-01-01T00:00:00+0800` → Unix milliseconds.
fn parse_cos_time(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
    );
    time::OffsetDateTime::parse(s.trim(), &fmt)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

async fn list(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, CosError> {
    if let Some(qt) = ctx.param("queueType")
        && qt != "FileProcess"
    {
        return Err(CosError::invalid_argument("queueType must be FileProcess"));
    }
    let tag = ctx.param("tag").unwrap_or(crate::meta::jobs::HASH_TAG);
    if tag != crate::meta::jobs::HASH_TAG {
        return Err(CosError::invalid_argument(format!(
            "tag {tag:?} is not supported: FileHashCode"
        )));
    }
    let states = match ctx.param("states") {
        None => Vec::new(),
        Some(s) if s.eq_ignore_ascii_case("all") => Vec::new(),
        Some(s) => s
            .split(',')
            .filter(|x| !x.trim().is_empty() && !x.trim().eq_ignore_ascii_case("all"))
            .map(str::parse::<JobState>)
            .collect::<Result<Vec<_>, _>>()?,
    };
    let time_param = |name: &str| -> Result<Option<i64>, CosError> {
        ctx.param(name)
            .map(|v| {
                parse_cos_time(v).ok_or_else(|| {
                    CosError::invalid_argument(format!(
                        "{name} must look like 2001-01-01T00:00:00+0800"
                    ))
                })
            })
            .transpose()
    };
    let ascending = match ctx.param("orderByTime") {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("desc") => false,
        Some(o) if o.eq_ignore_ascii_case("asc") => true,
        Some(_) => {
            return Err(CosError::invalid_argument(
                "orderByTime must be Desc or Asc",
            ));
        }
    };
    let size = match ctx.param("size") {
        None => 10,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST_SIZE).contains(n))
            .ok_or_else(|| {
                CosError::invalid_argument(format!("size must be 1 to {MAX_LIST_SIZE}"))
            })?,
    };
    let filter = ListFilter {
        bucket: bucket.to_string(),
        tag: Some(tag.to_string()),
        queue_id: ctx.param("queueId").map(str::to_string),
        // An exact key, with or without the leading `/` the SDKs' paths carry.
        input_object: ctx
            .param("inputObject")
            .map(|o| o.strip_prefix('/').unwrap_or(o).to_string()),
        states,
        created_from: time_param("startCreationTime")?,
        created_to: time_param("endCreationTime")?,
        ascending,
        size,
        next_token: ctx.param("nextToken").map(str::to_string),
    };
    let (jobs, next) = ctx.state.hash_jobs.list(&filter).await?;
    let mut w = XmlWriter::new();
    w.open("Response");
    for job in &jobs {
        jobs_detail(&mut w, job, true);
    }
    w.leaf("NextToken", next.as_deref().unwrap_or(""));
    Ok(super::xml_ok(w.finish()))
}

async fn cancel(ctx: &Ctx<'_>, bucket: &str, ids: &str) -> Result<Response, CosError> {
    let ids: Vec<String> = ids
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() || ids.len() > super::file_jobs::MAX_QUERY_IDS {
        return Err(CosError::invalid_argument("give 1 to 10 job ids"));
    }
    ctx.state
        .hash_jobs
        .cancel(bucket, &ids)
        .await
        .map_err(|e| match e {
            CancelError::Store(e) => CosError::from(e),
            refused => CosError::invalid_argument(refused.to_string()),
        })?;
    Ok(StatusCode::OK.into_response())
}

async fn describe_queues(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, CosError> {
    let mut queues = ctx.state.hash_jobs.queues(bucket).await?;
    let wanted: Vec<&str> = ctx
        .param("queueIds")
        .map(|q| {
            q.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|id| !queues.iter().any(|q| q.id == **id))
        .copied()
        .collect();
    if !wanted.is_empty() {
        queues.retain(|q| wanted.contains(&q.id.as_str()));
    }
    match ctx.param("state") {
        None => {}
        Some(s) if s.eq_ignore_ascii_case("all") => {}
        Some(s) => {
            let state = WireQueueState::parse(s)
                .ok_or_else(|| CosError::invalid_argument("state must be Active or Paused"))?;
            queues.retain(|q| q.state.as_str() == state.as_str());
        }
    }
    let number = page_param(ctx, "pageNumber", 1, usize::MAX)?;
    let size = page_param(ctx, "pageSize", 10, 100)?;
    let total = queues.len();
    let mut w = XmlWriter::new();
    w.open("Response")
        .leaf("RequestId", &ctx.request_id)
        .leaf("TotalCount", &total.to_string())
        .leaf("PageNumber", &number.to_string())
        .leaf("PageSize", &size.to_string());
    for q in queues
        .iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
    {
        w.open("QueueList");
        queue_fields(&mut w, q, ctx.state.config.workers);
        w.close();
    }
    for id in missing {
        w.leaf("NonExistPIDs", id);
    }
    Ok(super::xml_ok(w.finish()))
}

fn page_param(ctx: &Ctx<'_>, name: &str, default: usize, max: usize) -> Result<usize, CosError> {
    match ctx.param(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                CosError::invalid_argument(format!("{name} must be a number from 1 to {max}"))
            }),
    }
}

async fn update_queue(
    ctx: &Ctx<'_>,
    bucket: &str,
    id: &str,
    body: &mut Option<Body>,
) -> Result<Response, CosError> {
    let bytes = super::read_ci_body(body).await?;
    let update = ci_xml::parse_valid_queue_update(&bytes)?;
    if let Some(url) = update.notify.as_ref().and_then(|n| n.url.as_deref()) {
        super::check_callback_url(ctx, url).await?;
    }
    match ctx.state.hash_jobs.queue(bucket, id).await? {
        Some(_) => {}
        None => {
            return Err(CosError::invalid_argument(format!(
                "The queue {id:?} does not exist in this bucket."
            )));
        }
    }
    let state = update.state.map(|s| match s {
        WireQueueState::Active => QueueState::Active,
        WireQueueState::Paused => QueueState::Paused,
    });
    let notify = update.notify.map(|n| QueueNotify {
        settings: json!({
            "state": if n.enabled { "On" } else { "Off" },
            "url": n.url,
            "type": n.callback_type.as_str(),
            "event": n.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(","),
            "result_format": n.result_format.as_str(),
        }),
        target: n
            .url
            .clone()
            .filter(|_| n.enabled)
            .map(|url| CallbackTarget {
                url,
                format: Some(n.result_format.as_str().to_string()),
            }),
    });
    let queue = ctx
        .state
        .hash_jobs
        .update_queue(id, update.name.as_deref(), state, notify)
        .await?;
    let mut w = XmlWriter::new();
    w.open("Response")
        .leaf("RequestId", &ctx.request_id)
        .open("Queue");
    queue_fields(&mut w, &queue, ctx.state.config.workers);
    Ok(super::xml_ok(w.finish()))
}

fn queue_fields(w: &mut XmlWriter, q: &Queue, workers: usize) {
    let n = &q.notify.settings;
    let text = |k: &str, default: &str| {
        n.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or(default)
            .to_string()
    };
    w.leaf("QueueId", &q.id)
        .leaf("Name", &q.name)
        .leaf("State", q.state.as_str())
        .open("NotifyConfig")
        .leaf("Url", &text("url", ""))
        .leaf("Event", &text("event", "TaskFinish"))
        .leaf("Type", &text("type", "Url"))
        .leaf("State", &text("state", "Off"))
        .leaf("ResultFormat", &text("result_format", "XML"))
        .close()
        .leaf("MaxSize", "10000")
        .leaf("MaxConcurrent", &workers.to_string())
        .leaf("UpdateTime", &cos_time(q.updated_at))
        .leaf("CreateTime", &cos_time(q.created_at))
        .leaf("Category", "FileProcess");
}

/// `POST /file_bucket` (enable) and `DELETE /file_bucket` (disable) on a bucket host.
pub async fn file_bucket_toggle(
    ctx: &Ctx<'_>,
    bucket: &str,
    region: Option<&str>,
) -> Result<Response, CosError> {
    let found = ctx.bucket(bucket, region, false).await?;
    let on = ctx.method == Method::POST;
    ctx.state.store.set_file_processing(&found.name, on).await?;
    let mut w = XmlWriter::new();
    w.open("Response").leaf("RequestId", &ctx.request_id);
    if on {
        ctx.state.hash_jobs.enable_bucket(&found.name).await?;
        w.open("FileBucket")
            .leaf("BucketId", &found.name)
            .leaf("Name", &found.name)
            .leaf("Region", &found.region)
            .leaf("CreateTime", &cos_time(found.created_at))
            .close();
    }
    Ok(super::xml_ok(w.finish()))
}

/// `GET /file_bucket`: the buckets with file processing on, filtered by `regions`,
/// `bucketNames` (exact, comma list) and `bucketName` (prefix), paged.
pub async fn file_bucket_list(
    ctx: &Ctx<'_>,
    host_region: Option<&str>,
) -> Result<Response, CosError> {
    if ctx.method != Method::GET {
        return Err(CosError::method_not_allowed());
    }
    let list = |name: &str| -> Vec<String> {
        ctx.param(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut regions = list("regions");
    if regions.is_empty()
        && let Some(r) = host_region
    {
        regions.push(r.to_string());
    }
    let names = list("bucketNames");
    let prefix = ctx.param("bucketName").unwrap_or_default();
    let buckets: Vec<_> = ctx
        .state
        .store
        .list_buckets()
        .await?
        .into_iter()
        .filter(|b| b.file_processing)
        .filter(|b| regions.is_empty() || regions.contains(&b.region))
        .filter(|b| names.is_empty() || names.contains(&b.name))
        .filter(|b| b.name.starts_with(prefix))
        .collect();
    let number = page_param(ctx, "pageNumber", 1, usize::MAX)?;
    let size = page_param(ctx, "pageSize", 10, 100)?;
    let mut w = XmlWriter::new();
    w.open("Response")
        .leaf("RequestId", &ctx.request_id)
        .leaf("TotalCount", &buckets.len().to_string())
        .leaf("PageNumber", &number.to_string())
        .leaf("PageSize", &size.to_string());
    for b in buckets
        .iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
    {
        w.open("FileBucketList")
            .leaf("BucketId", &b.name)
            .leaf("Name", &b.name)
            .leaf("Region", &b.region)
            .leaf("CreateTime", &cos_time(b.created_at))
            .close();
    }
    Ok(super::xml_ok(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cos_times_parse() {
        assert_eq!(
            parse_cos_time("2022-07-18T15:16:43+0800"),
            Some(1_658_128_603_000)
        );
        assert_eq!(
            parse_cos_time("2022-07-18T07:16:43+0000"),
            Some(1_658_128_603_000)
        );
        assert_eq!(parse_cos_time("yesterday"), None);
    }
}
