"""Conformance of the Volcengine nta 2024-07-30 dialect (file detection) with the official
volcenginesdk-nta / volcenginesdk-core SDK (shared/specs/detection-apis.md §3).

Files reach a detection two ways: a COS presigned URL of an object of this server (read from
local storage, the presignature checked as a GET would be), or any other URL, downloaded by
the worker (the session's server may fetch from loopback; `strict_server` may not).
"""

import hashlib
import http.client
import json
import time
import urllib.parse
import uuid

import pytest
import volcenginesdkcore
from volcenginesdkcore.rest import ApiException
from volcenginesdkcore.signv4 import SignerV4
from volcenginesdkcore.universal import UniversalApi, UniversalInfo
from volcenginesdknta.models import CreateFileDetectionRequest, GetFileDetectionRequest

from cosutil import (
    ACCESS_KEY_ID,
    SDK_BUCKET,
    SDK_REGION,
    SECRET_ACCESS_KEY,
    with_signature_changed,
)

VERSION = "2024-07-30"
POLL_TIMEOUT = 60  # seconds for a detection to finish

# EICAR, assembled here so that no scanner of this repository's files ever sees it whole.
EICAR = (
    b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
    + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
)
WEBSHELL = b"<?php @eval($_POST['cmd']);?>\n"
CLEAN = b"Just a plain text file.\nNothing to see here.\n"


# --- helpers ----------------------------------------------------------------------------------


def create(api, url):
    return api.create_file_detection(CreateFileDetectionRequest(sign_url=url))


def get(api, key):
    return api.get_file_detection(GetFileDetectionRequest(query_key=key))


def poll(api, key, until=(2, -1)):
    """GetFileDetection until Finish is one of `until`; the last answer."""
    deadline = time.monotonic() + POLL_TIMEOUT
    while True:
        r = get(api, key)
        if r.finish in until or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def wire_metadata(resp):
    """A model's ResponseMetadata (what the SDK kept of it) with the wire's field names."""
    m = resp.metadata()
    return {"RequestId": m.request_id, "Action": m.action, "Version": m.version,
            "Service": m.service, "Region": m.region}


def error_body(exc):
    """The JSON body of an ApiException raised for a non-2xx answer."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    return json.loads(body)


def assert_metadata(meta, action, region="cn-beijing"):
    """ResponseMetadata as every answer must carry it."""
    assert meta["RequestId"]
    assert meta["Action"] == action
    assert meta["Version"] == VERSION
    assert meta["Service"] == "nta"
    assert meta["Region"] == region


def assert_error(exc, status, code, action, code_n=None):
    assert exc.status == status, exc
    doc = error_body(exc)
    assert "Result" not in doc
    meta = doc["ResponseMetadata"]
    assert_metadata(meta, action)
    assert meta["Error"]["Code"] == code, doc
    assert meta["Error"]["Message"]
    if code_n is not None:
        assert meta["Error"]["CodeN"] == code_n
    return meta["Error"]


def signed_request(port, action, body, version=VERSION, method="POST", headers=None,
                   sk=SECRET_ACCESS_KEY, sign=True):
    """One request signed by the SDK's own SignerV4 and sent over a plain connection:
    (status, parsed JSON body, response headers)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    all_headers = {"Content-Type": "application/json", "Host": f"127.0.0.1:{port}"}
    all_headers.update(headers or {})
    query = {"Action": action, "Version": version}
    if sign:
        SignerV4.sign("/", method, all_headers, body, None, query, ACCESS_KEY_ID, sk,
                      "cn-beijing", "nta")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, "/?" + urllib.parse.urlencode(query), body=body.encode("utf-8"),
                     headers=all_headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.getheader("Content-Type") == "application/json"
    return resp.status, json.loads(data), resp.headers


def put_and_presign(client, presign_client, key, data):
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=data)
    return presign_client.get_presigned_download_url(Bucket=SDK_BUCKET, Key=key, Expired=600)


@pytest.fixture
def nta(make_nta, server):
    return make_nta(server)


# --- detections of objects of this server (COS presigned URLs) --------------------------------


def check_done(r, data, sec_type, desc):
    assert r.finish == 2, r
    assert r.file_sec_type == sec_type, r
    assert r.virus_desc == desc, r
    assert r.file_md5 == hashlib.md5(data).hexdigest()
    assert r.file_size == len(data)


def test_eicar_object(nta, proxy_client, presign_client, prefix):
    url = put_and_presign(proxy_client, presign_client, prefix + "eicar.com", EICAR)
    assert ":" in urllib.parse.urlsplit(url).netloc and "q-signature=" in url
    created = create(nta, url)
    # An object of this server is keyed by its MD5.
    assert created.query_key == hashlib.md5(EICAR).hexdigest()
    assert_metadata(wire_metadata(created), "CreateFileDetection")
    r = poll(nta, created.query_key)
    check_done(r, EICAR, 2, "Engtest")
    assert_metadata(wire_metadata(r), "GetFileDetection")
    # The key is case-insensitive.
    assert get(nta, created.query_key.upper()).finish == 2


def test_proxy_mode_presigned_url_on_port_80_is_read_locally(nta, proxy_client, prefix):
    """The URL every COS SDK presigns in proxy mode names the cloud's host on port 80; its
    domain is configured, so the object is read from this server's storage, not fetched."""
    key = prefix + "proxy-mode.php"
    proxy_client.put_object(Bucket=SDK_BUCKET, Key=key, Body=WEBSHELL)
    url = proxy_client.get_presigned_download_url(Bucket=SDK_BUCKET, Key=key, Expired=600)
    parts = urllib.parse.urlsplit(url)
    assert parts.netloc == f"{SDK_BUCKET}.cos.{SDK_REGION}.myqcloud.com", url
    created = create(nta, url)
    assert created.query_key == hashlib.md5(WEBSHELL).hexdigest()
    check_done(poll(nta, created.query_key), WEBSHELL, 2, "WebShell")
    # Its presignature is checked as a GET's would be.
    with pytest.raises(ApiException) as e:
        create(nta, with_signature_changed(url))
    err = assert_error(e.value, 403, "AccessDenied", "CreateFileDetection", 100013)
    assert "SignatureDoesNotMatch" in err["Message"]


def test_webshell_object(nta, proxy_client, presign_client, prefix):
    url = put_and_presign(proxy_client, presign_client, prefix + "shell.php", WEBSHELL)
    r = poll(nta, create(nta, url).query_key)
    check_done(r, WEBSHELL, 2, "WebShell")


def test_clean_object(nta, proxy_client, presign_client, prefix):
    data = CLEAN + prefix.encode()  # unique content: a fresh detection
    url = put_and_presign(proxy_client, presign_client, prefix + "clean.txt", data)
    r = poll(nta, create(nta, url).query_key)
    check_done(r, data, 1, "")


def test_same_object_same_query_key(nta, proxy_client, presign_client, prefix):
    data = b"same object twice " + prefix.encode()
    url = put_and_presign(proxy_client, presign_client, prefix + "twice.txt", data)
    first = create(nta, url).query_key
    second = create(nta, url).query_key
    assert first == second == hashlib.md5(data).hexdigest()
    # A fresh presignature of the same object, too.
    third = create(nta, presign_client.get_presigned_download_url(
        Bucket=SDK_BUCKET, Key=prefix + "twice.txt")).query_key
    assert third == first
    assert poll(nta, first).finish == 2


def test_unknown_object_is_refused_now(nta, bucket, presign_client, prefix):
    url = presign_client.get_presigned_download_url(Bucket=SDK_BUCKET, Key=prefix + "nothing")
    with pytest.raises(ApiException) as e:
        create(nta, url)
    err = assert_error(e.value, 400, "InvalidParameter", "CreateFileDetection")
    assert "NoSuchKey" in err["Message"]


def test_bad_presignature_is_refused(nta, proxy_client, presign_client, prefix):
    url = put_and_presign(proxy_client, presign_client, prefix + "a.txt", b"a")
    with pytest.raises(ApiException) as e:
        create(nta, with_signature_changed(url))
    err = assert_error(e.value, 403, "AccessDenied", "CreateFileDetection", 100013)
    assert "SignatureDoesNotMatch" in err["Message"]


# --- detections of downloaded files -------------------------------------------------------------


def test_url_download_detected(nta, file_server):
    url = file_server.url("/files/shell.php", WEBSHELL)
    created = create(nta, url)
    assert 0 < len(created.query_key) <= 64
    r = poll(nta, created.query_key)
    check_done(r, WEBSHELL, 2, "WebShell")


def test_url_download_missing_file_fails(nta, file_server):
    r = poll(nta, create(nta, f"http://127.0.0.1:{file_server.port}/no/such/file").query_key)
    assert r.finish == -1
    assert r.file_sec_type == 0


def test_private_url_refused_by_default(make_nta, strict_server, file_server):
    """The default address policy: a loopback URL is never fetched (SSRF); it is refused at
    submission with 400 InvalidParameter, as Alibaba's dialect refuses it, and nothing is
    downloaded."""
    api = make_nta(strict_server)
    url = file_server.url("/files/eicar-ssrf.com", EICAR)
    with pytest.raises(Exception) as info:
        create(api, url)
    error = assert_error(info.value, 400, "InvalidParameter", "CreateFileDetection")
    assert "SignURL" in error["Message"], error


def test_same_invocation_id_is_the_same_detection(server, file_server):
    """The SDK retries with the same X-Sdk-Invocation-Id: a retried create is answered the
    detection of the first attempt, a new invocation a new detection."""
    url = file_server.url("/files/retried.txt", b"retried")
    invocation = str(uuid.uuid4())
    keys = []
    for attempt in (1, 2):
        status, doc, _ = signed_request(
            server.port, "CreateFileDetection", {"SignURL": url},
            headers={"X-Sdk-Invocation-Id": invocation,
                     "X-Sdk-Request": f"attempt={attempt}; max=4"})
        assert status == 200, doc
        assert_metadata(doc["ResponseMetadata"], "CreateFileDetection")
        keys.append(doc["Result"]["QueryKey"])
    assert keys[0] == keys[1]
    status, doc, _ = signed_request(server.port, "CreateFileDetection", {"SignURL": url},
                                    headers={"X-Sdk-Invocation-Id": str(uuid.uuid4())})
    assert status == 200
    assert doc["Result"]["QueryKey"] != keys[0]


# --- lookups --------------------------------------------------------------------------------------


def test_unknown_query_key(nta):
    r = get(nta, "0123456789abcdef0123456789abcdef")
    assert r.finish == -2
    assert r.file_sec_type == 0
    assert_metadata(wire_metadata(r), "GetFileDetection")


def test_universal_api_returns_the_raw_result(nta):
    universal = UniversalApi(nta.api_client)
    info = UniversalInfo(method="POST", service="nta", version=VERSION,
                         action="GetFileDetection", content_type="application/json")
    result = universal.do_call(info, {"QueryKey": "f" + "0" * 32})
    assert result == {"FileMd5": "", "FileSecType": 0, "FileSize": 0, "Finish": -2,
                      "VirusDesc": ""}


# --- errors ---------------------------------------------------------------------------------------


def test_wrong_secret(make_nta, server):
    api = make_nta(server, sk="not-the-secret")
    with pytest.raises(ApiException) as e:
        get(api, "0123456789abcdef0123456789abcdef")
    assert_error(e.value, 401, "SignatureDoesNotMatch", "GetFileDetection", 100010)


def test_unknown_access_key(make_nta, server):
    api = make_nta(server, ak="AKLTunknown")
    with pytest.raises(ApiException) as e:
        get(api, "0123456789abcdef0123456789abcdef")
    assert_error(e.value, 401, "InvalidAccessKey", "GetFileDetection", 100009)


def test_missing_sign_url(nta):
    universal = UniversalApi(nta.api_client)
    info = UniversalInfo(method="POST", service="nta", version=VERSION,
                         action="CreateFileDetection", content_type="application/json")
    with pytest.raises(ApiException) as e:
        universal.do_call(info, {})
    err = assert_error(e.value, 400, "MissingParameter", "CreateFileDetection", 100002)
    assert "SignURL" in err["Message"]


def test_missing_query_key_without_client_validation(make_nta, server):
    api = make_nta(server, validate=False)
    with pytest.raises(ApiException) as e:
        api.get_file_detection(GetFileDetectionRequest(_configuration=api.api_client.configuration))
    assert_error(e.value, 400, "MissingParameter", "GetFileDetection", 100002)


def test_unknown_action(nta):
    universal = UniversalApi(nta.api_client)
    info = UniversalInfo(method="POST", service="nta", version=VERSION,
                         action="ListFileDetections", content_type="application/json")
    with pytest.raises(ApiException) as e:
        universal.do_call(info, {})
    err = assert_error(e.value, 404, "InvalidActionOrVersion", "ListFileDetections", 100008)
    assert "ListFileDetections" in err["Message"]


def test_unknown_version(server):
    status, doc, _ = signed_request(server.port, "GetFileDetection", {"QueryKey": "x"},
                                    version="2020-01-01")
    assert status == 404
    meta = doc["ResponseMetadata"]
    assert meta["Version"] == "2020-01-01" and meta["Service"] == "nta"
    assert meta["Error"]["Code"] == "InvalidActionOrVersion"


def test_bad_parameters(server):
    cases = [
        ("{", "InvalidParameter"),
        ("[]", "InvalidParameter"),
        ('{"QueryKey": 5}', "InvalidParameter"),
        ('{"QueryKey": ""}', "InvalidParameter"),
        (json.dumps({"QueryKey": "k" * 65}), "InvalidParameter"),
        ('{"QueryKey": null}', "MissingParameter"),
    ]
    for body, code in cases:
        status, doc, _ = signed_request(server.port, "GetFileDetection", body)
        assert status == 400, (body, doc)
        assert_metadata(doc["ResponseMetadata"], "GetFileDetection")
        assert doc["ResponseMetadata"]["Error"]["Code"] == code, (body, doc)


def test_bad_sign_urls(nta):
    for url in ["ftp://example.com/a", "file:///etc/passwd", "not a url",
                "http://user:pw@example.com/a", "x" * 2049]:
        with pytest.raises((ApiException, ValueError)) as e:
            create(nta, url)
        if isinstance(e.value, ApiException):
            assert_error(e.value, 400, "InvalidParameter", "CreateFileDetection")
        else:  # the SDK's own length check
            assert len(url) > 2048


def test_unsigned_request(server):
    status, doc, _ = signed_request(server.port, "GetFileDetection", {"QueryKey": "x"},
                                    sign=False)
    assert status == 400
    assert_metadata(doc["ResponseMetadata"], "GetFileDetection")
    assert doc["ResponseMetadata"]["Error"]["Code"] == "MissingRequestInfo"


def test_body_too_large(server):
    body = json.dumps({"QueryKey": "x", "pad": "p" * (70 * 1024)})
    status, doc, _ = signed_request(server.port, "GetFileDetection", body)
    assert status == 413
    assert doc["ResponseMetadata"]["Error"]["Code"] == "InvalidParameter"


def test_get_method_is_refused(server):
    status, doc, _ = signed_request(server.port, "GetFileDetection", "", method="GET")
    assert status == 404
    assert doc["ResponseMetadata"]["Error"]["Code"] == "InvalidActionOrVersion"
