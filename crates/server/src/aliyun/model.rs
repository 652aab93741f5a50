//! Sas response bodies (detection-apis.md §1.3–§1.7, §2.6), with the exact PascalCase field
//! names and the JSON types of the SDKs' typed models: `Code`, `Expire` (upload URLs) and `Ext`
//! are strings, `Result` and `Score` integers, `Compress` a boolean.
//!
//! Choices where the spec is silent: `Score`, `VirusType` and `Ext` are left out when there is
//! nothing to say (a result still in progress, a clean file); [`ext_json`] always writes both
//! `HighLight` and `FileLabel` (possibly empty), so that a client indexing either finds it;
//! an upload URL for a file that already exists has empty URLs and no `Context`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{JSON_CONTENT_TYPE, SasError};

/// Per-item `Code` of a success.
pub const ITEM_OK_CODE: &str = "200";
/// Per-item `Message` of a success.
pub const ITEM_OK_MESSAGE: &str = "successful";

/// `Result`: safe.
pub const RESULT_SAFE: i32 = 0;
/// `Result`: suspicious or malicious.
pub const RESULT_MALICIOUS: i32 = 1;
/// `Result`: detection still in progress, poll again.
pub const RESULT_PENDING: i32 = 3;

/// `CreateFileDetectUploadUrl` (§1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFileDetectUploadUrlResponse {
    pub request_id: String,
    pub upload_url_list: Vec<UploadUrl>,
}

/// One item of `UploadUrlList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadUrl {
    pub hash_key: String,
    pub file_exist: bool,
    pub public_url: String,
    pub internal_url: String,
    /// Expiry in Unix milliseconds, as a string.
    pub expire: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<UploadUrlContext>,
    pub code: String,
    pub message: String,
}

impl UploadUrl {
    /// The item for a file already known: no upload needed.
    pub fn exists(hash_key: impl Into<String>) -> Self {
        UploadUrl {
            hash_key: hash_key.into(),
            file_exist: true,
            public_url: String::new(),
            internal_url: String::new(),
            expire: String::new(),
            context: None,
            code: ITEM_OK_CODE.to_owned(),
            message: ITEM_OK_MESSAGE.to_owned(),
        }
    }

    /// The item for a file to upload with the form credentials of `context`.
    pub fn upload(
        hash_key: impl Into<String>,
        public_url: impl Into<String>,
        internal_url: impl Into<String>,
        expire_ms: i64,
        context: UploadUrlContext,
    ) -> Self {
        UploadUrl {
            hash_key: hash_key.into(),
            file_exist: false,
            public_url: public_url.into(),
            internal_url: internal_url.into(),
            expire: expire_ms.to_string(),
            context: Some(context),
            code: ITEM_OK_CODE.to_owned(),
            message: ITEM_OK_MESSAGE.to_owned(),
        }
    }
}

/// `Context`: the OSS PostObject V1 form fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadUrlContext {
    pub access_id: String,
    pub policy: String,
    pub signature: String,
    pub oss_key: String,
}

/// `CreateFileDetect` (§1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFileDetectResponse {
    pub request_id: String,
    pub hash_key: String,
}

/// `GetFileDetectResult` (§1.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFileDetectResultResponse {
    pub request_id: String,
    pub result_list: Vec<DetectResult>,
}

/// One item of `ResultList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectResult {
    pub hash_key: String,
    /// [`RESULT_SAFE`], [`RESULT_MALICIOUS`] or [`RESULT_PENDING`].
    pub result: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virus_type: Option<String>,
    pub code: String,
    pub message: String,
    /// A JSON document as a string (see [`ext_json`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
    pub compress: bool,
}

impl DetectResult {
    /// A result still being computed.
    pub fn pending(hash_key: impl Into<String>) -> Self {
        DetectResult {
            hash_key: hash_key.into(),
            result: RESULT_PENDING,
            score: None,
            virus_type: None,
            code: ITEM_OK_CODE.to_owned(),
            message: ITEM_OK_MESSAGE.to_owned(),
            ext: None,
            compress: false,
        }
    }
}

/// `ListCompressFileDetectResult` (§1.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListCompressFileDetectResultResponse {
    pub request_id: String,
    pub page_info: PageInfo,
    pub result_list: Vec<CompressMemberResult>,
}

/// `PageInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PageInfo {
    pub current_page: u32,
    pub page_size: u32,
    pub total_count: u64,
}

/// One archive member's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompressMemberResult {
    pub hash_key: String,
    pub result: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virus_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
    /// The member's path inside the archive.
    pub path: String,
}

/// `GetFileDetectApiInvokeInfo` (§1.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFileDetectApiInvokeInfoResponse {
    pub request_id: String,
    pub data: InvokeInfo,
}

/// `Data` of `GetFileDetectApiInvokeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeInfo {
    pub auth_count: i64,
    pub auth_count_in_sale_version: i64,
    pub invoke_count: i64,
    pub invoke_count_in_sale_version: i64,
    pub remain_auth_count: i64,
    /// Unix milliseconds, a number here (SDK type long).
    pub expire: i64,
    pub flow_rate: i64,
    /// `SECONDS` or `MINUTES`.
    pub time_unit: String,
    /// 1 trial, 2 enterprise.
    pub sale_version: i64,
}

#[derive(Serialize)]
struct Ext<'a> {
    #[serde(rename = "HighLight")]
    high_light: Vec<[u64; 2]>,
    #[serde(rename = "FileLabel")]
    file_label: &'a [String],
}

/// The `Ext` string: `{"HighLight":[[start,end],…],"FileLabel":[…]}`.
pub fn ext_json(highlights: &[(u64, u64)], labels: &[String]) -> String {
    let ext = Ext {
        high_light: highlights.iter().map(|&(s, e)| [s, e]).collect(),
        file_label: labels,
    };
    serde_json::to_string(&ext).unwrap_or_else(|_| String::from("{}"))
}

/// A 200 answer with `body` as JSON and the request id header.
pub fn json_response<T: Serialize>(body: &T, request_id: &str) -> Response {
    let mut response = match serde_json::to_vec(body) {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a Sas response");
            return SasError::server_error().response(request_id, "");
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-acs-request-id", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to_value<T: Serialize>(t: &T) -> serde_json::Value {
        serde_json::to_value(t).unwrap()
    }

    #[test]
    fn upload_url_list_shape() {
        let body = CreateFileDetectUploadUrlResponse {
            request_id: "R".into(),
            upload_url_list: vec![
                UploadUrl::upload(
                    "0a21",
                    "http://h/",
                    "http://i/",
                    1_658_562_101_370,
                    UploadUrlContext {
                        access_id: "ak".into(),
                        policy: "p".into(),
                        signature: "s".into(),
                        oss_key: "1/k".into(),
                    },
                ),
                UploadUrl::exists("5d41"),
            ],
        };
        assert_eq!(
            to_value(&body),
            json!({
                "RequestId": "R",
                "UploadUrlList": [{
                    "HashKey": "0a21", "FileExist": false, "PublicUrl": "http://h/",
                    "InternalUrl": "http://i/", "Expire": "1658562101370",
                    "Context": {"AccessId": "ak", "Policy": "p", "Signature": "s", "OssKey": "1/k"},
                    "Code": "200", "Message": "successful"
                }, {
                    "HashKey": "5d41", "FileExist": true, "PublicUrl": "", "InternalUrl": "",
                    "Expire": "", "Code": "200", "Message": "successful"
                }]
            })
        );
    }

    #[test]
    fn detect_result_shape() {
        let body = GetFileDetectResultResponse {
            request_id: "R".into(),
            result_list: vec![
                DetectResult {
                    hash_key: "h".into(),
                    result: RESULT_MALICIOUS,
                    score: Some(100),
                    virus_type: Some("WebShell".into()),
                    code: ITEM_OK_CODE.into(),
                    message: ITEM_OK_MESSAGE.into(),
                    ext: Some(ext_json(&[(23245, 23212)], &[])),
                    compress: false,
                },
                DetectResult::pending("p"),
            ],
        };
        let v = to_value(&body);
        assert_eq!(
            v,
            json!({"RequestId": "R", "ResultList": [{
                "HashKey": "h", "Result": 1, "Score": 100, "VirusType": "WebShell",
                "Code": "200", "Message": "successful",
                "Ext": "{\"HighLight\":[[23245,23212]],\"FileLabel\":[]}", "Compress": false
            }, {
                "HashKey": "p", "Result": 3, "Code": "200", "Message": "successful", "Compress": false
            }]})
        );
        // Typed-model JSON types: Code and Ext strings, Result integer, Compress boolean.
        let item = &v["ResultList"][0];
        assert!(item["Code"].is_string() && item["Ext"].is_string());
        assert!(item["Result"].is_i64() && item["Compress"].is_boolean());
    }

    #[test]
    fn list_compress_and_invoke_info_shapes() {
        let body = ListCompressFileDetectResultResponse {
            request_id: "R".into(),
            page_info: PageInfo {
                current_page: 1,
                page_size: 20,
                total_count: 55,
            },
            result_list: vec![CompressMemberResult {
                hash_key: "h".into(),
                result: 0,
                score: Some(0),
                virus_type: None,
                ext: Some(ext_json(&[], &["PE32".into()])),
                path: "/root/1.zip/a".into(),
            }],
        };
        assert_eq!(
            to_value(&body),
            json!({"RequestId": "R", "PageInfo": {"CurrentPage": 1, "PageSize": 20, "TotalCount": 55},
                   "ResultList": [{"HashKey": "h", "Result": 0, "Score": 0,
                                   "Ext": "{\"HighLight\":[],\"FileLabel\":[\"PE32\"]}", "Path": "/root/1.zip/a"}]})
        );
        let info = GetFileDetectApiInvokeInfoResponse {
            request_id: "R".into(),
            data: InvokeInfo {
                auth_count: 10000,
                auth_count_in_sale_version: 0,
                invoke_count: 12,
                invoke_count_in_sale_version: 0,
                remain_auth_count: 9988,
                expire: 1_735_660_800_000,
                flow_rate: 10,
                time_unit: "SECONDS".into(),
                sale_version: 1,
            },
        };
        // The spec's illustrative example, byte for byte.
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"RequestId":"R","Data":{"AuthCount":10000,"AuthCountInSaleVersion":0,"InvokeCount":12,"InvokeCountInSaleVersion":0,"RemainAuthCount":9988,"Expire":1735660800000,"FlowRate":10,"TimeUnit":"SECONDS","SaleVersion":1}}"#
        );
        assert_eq!(
            serde_json::to_string(&CreateFileDetectResponse {
                request_id: "R".into(),
                hash_key: "h".into()
            })
            .unwrap(),
            r#"{"RequestId":"R","HashKey":"h"}"#
        );
    }

    #[test]
    fn ext_json_is_valid_json_with_both_keys() {
        let s = ext_json(&[(1, 2), (3, 4)], &["Zip".into(), "encrypted\"".into()]);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v,
            json!({"HighLight": [[1, 2], [3, 4]], "FileLabel": ["Zip", "encrypted\""]})
        );
        assert_eq!(ext_json(&[], &[]), r#"{"HighLight":[],"FileLabel":[]}"#);
    }

    #[tokio::test]
    async fn json_response_headers() {
        let r = json_response(
            &CreateFileDetectResponse {
                request_id: "R".into(),
                hash_key: "h".into(),
            },
            "R",
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], JSON_CONTENT_TYPE);
        assert_eq!(r.headers()["x-acs-request-id"], "R");
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], br#"{"RequestId":"R","HashKey":"h"}"#);
    }
}
