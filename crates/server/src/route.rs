//! Where a request goes, in COS's addressing (which every dialect shares: the port routes
//! by it, `/v1` is path-style under it, a Volcengine SignURL may name a bucket by it): the
//! bucket, region and host kind from the Host header (or the authority of an absolute-form
//! target), or path-style `/<bucket>/<key>`; and the key, percent-decoded without ever
//! turning `+` into a space.

/// Which COS host family a request was addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `<bucket>.cos.<region>.<domain>`: the object API (and the sync `ci-process` calls).
    Cos,
    /// `<bucket>.ci.<region>.<domain>`: Cloud Infinite.
    Ci,
}

/// What the request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The service itself: `service.cos.<domain>`, `cos.<region>.<domain>`, `ci.<region>…`,
    /// or `/` on a host that names no bucket.
    Service { region: Option<String> },
    /// A bucket, and a key inside it when the path has one.
    Bucket {
        bucket: String,
        /// Region named by a virtual host; `None` for path-style requests.
        region: Option<String>,
        kind: HostKind,
        /// Decoded key; empty for bucket operations.
        key: String,
        /// Path-style (`/<bucket>/<key>`) rather than virtual-hosted.
        path_style: bool,
    },
}

/// Why a target cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the request path is not valid percent-encoded UTF-8")]
    BadPath,
}

/// Resolves a request from its host (without port, lower-cased by the caller or not) and its
/// raw (still percent-encoded) path.
pub fn resolve(
    host: Option<&str>,
    raw_path: &str,
    domains: &[String],
) -> Result<Target, RouteError> {
    let path = decode_path(raw_path)?;
    if let Some(host) = host.map(strip_port)
        && let Some(virtual_host) = parse_host(host, domains)
    {
        return Ok(match virtual_host {
            VirtualHost::Bucket {
                bucket,
                kind,
                region,
            } => Target::Bucket {
                bucket,
                region: Some(region),
                kind,
                key: path.strip_prefix('/').unwrap_or(&path).to_string(),
                path_style: false,
            },
            VirtualHost::Service { region } => Target::Service { region },
        });
    }
    // Path style: /<bucket>/<key>, for plain HTTP clients and hosts that name no bucket.
    let rest = path.strip_prefix('/').unwrap_or(&path);
    if rest.is_empty() {
        return Ok(Target::Service { region: None });
    }
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    Ok(Target::Bucket {
        bucket: bucket.to_string(),
        region: None,
        kind: HostKind::Cos,
        key: key.to_string(),
        path_style: true,
    })
}

enum VirtualHost {
    Bucket {
        bucket: String,
        kind: HostKind,
        region: String,
    },
    Service {
        region: Option<String>,
    },
}

/// `<bucket>.(cos|ci).<region>.<domain>`, `service.cos.<domain>`, `(cos|ci).<region>.<domain>`.
fn parse_host(host: &str, domains: &[String]) -> Option<VirtualHost> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domains.iter().find(|d| {
        host.len() > d.len()
            && host.ends_with(d.to_ascii_lowercase().as_str())
            && host.as_bytes()[host.len() - d.len() - 1] == b'.'
    })?;
    let labels: Vec<&str> = host[..host.len() - domain.len() - 1].split('.').collect();
    match labels.as_slice() {
        [bucket, kind @ ("cos" | "ci"), region] if !bucket.is_empty() && !region.is_empty() => {
            Some(VirtualHost::Bucket {
                bucket: (*bucket).to_string(),
                kind: if *kind == "ci" {
                    HostKind::Ci
                } else {
                    HostKind::Cos
                },
                region: (*region).to_string(),
            })
        }
        ["service", "cos"] => Some(VirtualHost::Service { region: None }),
        ["cos" | "ci", region] => Some(VirtualHost::Service {
            region: Some((*region).to_string()),
        }),
        _ => None,
    }
}

/// `host[:port]` → `host` (IPv6 `[..]:port` too).
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(host, |(h, _)| h);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Percent-decodes a path. `+` stays `+`; the result must be UTF-8.
pub fn decode_path(raw: &str) -> Result<String, RouteError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| RouteError::BadPath)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["myqcloud.com".to_string()]
    }

    #[test]
    fn virtual_hosted_cos_and_ci() {
        let t = resolve(
            Some("examplebucket-1250000000.cos.ap-chongqing.myqcloud.com"),
            "/dir/a%2Bb%20c+d",
            &domains(),
        )
        .unwrap();
        assert_eq!(
            t,
            Target::Bucket {
                bucket: "examplebucket-1250000000".into(),
                region: Some("ap-chongqing".into()),
                kind: HostKind::Cos,
                key: "dir/a+b c+d".into(),
                path_style: false,
            }
        );
        let t = resolve(
            Some("examplebucket-1250000000.ci.ap-chongqing.myqcloud.com:8080"),
            "/file_jobs",
            &domains(),
        )
        .unwrap();
        assert!(
            matches!(t, Target::Bucket { kind: HostKind::Ci, ref key, .. } if key == "file_jobs")
        );
    }

    #[test]
    fn service_hosts() {
        assert_eq!(
            resolve(Some("service.cos.myqcloud.com"), "/", &domains()).unwrap(),
            Target::Service { region: None }
        );
        assert_eq!(
            resolve(
                Some("ci.ap-beijing.myqcloud.com"),
                "/file_bucket",
                &domains()
            )
            .unwrap(),
            Target::Service {
                region: Some("ap-beijing".into())
            }
        );
    }

    #[test]
    fn other_hosts_are_path_style() {
        let t = resolve(Some("127.0.0.1:8080"), "/bucket-125/k/e/y", &domains()).unwrap();
        assert!(
            matches!(t, Target::Bucket { path_style: true, ref bucket, ref key, .. }
            if bucket == "bucket-125" && key == "k/e/y")
        );
        let t = resolve(Some("b-1.cos.r.example.org"), "/", &domains()).unwrap();
        assert_eq!(t, Target::Service { region: None });
        let t = resolve(None, "/b-1", &domains()).unwrap();
        assert!(matches!(t, Target::Bucket { ref key, .. } if key.is_empty()));
    }

    #[test]
    fn bad_paths() {
        assert_eq!(
            resolve(None, "/b-1/%ff", &domains()),
            Err(RouteError::BadPath)
        );
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("a.b:80"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("a.b"), "a.b");
    }
}
