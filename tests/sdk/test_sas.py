"""Alibaba Cloud Sas 2018-12-03 file detection, driven by the official SDKs.

alibabacloud-sas20181203 with its default V3 signing (ACS3-HMAC-SHA256) and with
signature_algorithm='v2' (HMAC-SHA1 query signature), Alibaba's own alibabacloud-filedetect
flow, and raw signed requests for the error cases the SDKs cannot produce (stale timestamp,
reused nonce). Spec: shared/specs/detection-apis.md §1–§2.
"""

import base64
import hashlib
import hmac
import io
import os
import time
import urllib.parse
import uuid
import zipfile

import pytest
import requests
from alibabacloud_sas20181203 import models as sas
from alibabacloud_sas20181203.client import Client
from alibabacloud_tea_openapi import models as open_api_models

from cosutil import ACCESS_KEY_ID, SECRET_ACCESS_KEY

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
WEBSHELL = b"<?php @eval($_POST['x']);?>\n"


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Retrying:
    """A client that sleeps and retries on RequestTooFrequently, as Alibaba's own detection SDK
    does (§1.2 rule 3): the tests share one key and the server limits requests per key."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def call(*args, **kwargs):
            for _ in range(100):
                try:
                    return method(*args, **kwargs)
                except Exception as e:  # noqa: BLE001 - the SDK raises several classes
                    if getattr(e, "code", None) != "RequestTooFrequently":
                        raise
                    time.sleep(0.1)
            return method(*args, **kwargs)

        return call


def make_client(srv, algorithm="v3", secret=SECRET_ACCESS_KEY):
    return Retrying(raw_client(srv, algorithm, secret))


def raw_client(srv, algorithm="v3", secret=SECRET_ACCESS_KEY):
    cfg = open_api_models.Config(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=secret,
        endpoint=f"127.0.0.1:{srv.port}",
        protocol="http",
    )
    if algorithm == "v2":
        cfg.signature_algorithm = "v2"
    return Client(cfg)


@pytest.fixture(params=["v3", "v2"])
def sas_client(request, server):
    return make_client(server, request.param)


def result_of(client, key, timeout=30):
    """Polls GetFileDetectResult until the result is final (Result != 3)."""
    deadline = time.time() + timeout
    while True:
        item = client.get_file_detect_result(
            sas.GetFileDetectResultRequest(hash_key_list=[key], type=0)
        ).body.result_list[0]
        if item.result != 3:
            return item
        assert time.time() < deadline, f"still detecting {key}"
        time.sleep(0.05)


def upload_and_detect(client, data, **detect_args):
    """The SDK's upload path: CreateFileDetectUploadUrl, form upload, CreateFileDetect."""
    key = md5(data)
    urls = client.create_file_detect_upload_url(
        sas.CreateFileDetectUploadUrlRequest(
            hash_key_context_list=[
                sas.CreateFileDetectUploadUrlRequestHashKeyContextList(
                    hash_key=key, file_size=len(data)
                )
            ],
            type=0,
        )
    ).body.upload_url_list
    assert len(urls) == 1 and urls[0].hash_key == key and urls[0].code == "200"
    ctx = urls[0].context
    if not urls[0].file_exist:
        r = requests.post(
            urls[0].public_url,
            data={
                "key": ctx.oss_key,
                "policy": ctx.policy,
                "OSSAccessKeyId": ctx.access_id,
                "success_action_status": "200",
                "Signature": ctx.signature,
            },
            files={"file": data},
        )
        assert r.status_code == 200, r.text
    body = client.create_file_detect(
        sas.CreateFileDetectRequest(hash_key=key, oss_key=ctx.oss_key, type=0, **detect_args)
    ).body
    assert body.hash_key == key
    return key


def error_of(call):
    with pytest.raises(Exception) as info:
        call()
    e = info.value
    return getattr(e, "code", None), getattr(e, "statusCode", None), str(e)


# --- results ------------------------------------------------------------------------------------


def test_eicar_uploaded_is_malicious_engtest(sas_client):
    data = EICAR + uuid.uuid4().hex.encode()  # a fresh file for each signature version
    key = upload_and_detect(sas_client, data)
    item = result_of(sas_client, key)
    assert item.result == 1
    assert item.virus_type == "Engtest"
    assert item.score == 100
    ext = __import__("json").loads(item.ext)
    assert [0, len(EICAR)] in ext["HighLight"]
    assert item.compress is False
    # The same file answers by its SHA-256 too.
    by_sha = result_of(sas_client, sha256(data))
    assert by_sha.result == 1 and by_sha.hash_key == sha256(data)


def test_webshell_by_download_url_with_highlight(sas_client, file_server):
    data = WEBSHELL + f"// {uuid.uuid4().hex}\n".encode()
    url = file_server.url(f"/{uuid.uuid4().hex}/shell.php", data)
    key = md5(data)
    body = sas_client.create_file_detect(
        sas.CreateFileDetectRequest(hash_key=key, download_url=url, type=0)
    ).body
    assert body.hash_key == key
    item = result_of(sas_client, key)
    assert item.result == 1 and item.virus_type == "WebShell"
    assert item.score >= 81
    ext = __import__("json").loads(item.ext)
    start = data.index(b"@eval") if b"@eval" in data else 0
    assert any(s <= start + 1 and e > start for s, e in ext["HighLight"]), ext
    assert "PHP" in ext["FileLabel"]


def test_clean_file_is_result_0(sas_client):
    data = b"just some ordinary text " + uuid.uuid4().hex.encode()
    key = upload_and_detect(sas_client, data)
    item = result_of(sas_client, key)
    assert item.result == 0
    assert item.virus_type is None
    assert item.score <= 60


def test_archive_with_decompress_lists_its_members(sas_client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("docs/readme.txt", b"hello " + uuid.uuid4().hex.encode())
        z.writestr("bin/eicar.com", EICAR)
        z.writestr("web/shell.php", WEBSHELL)
    data = buf.getvalue()
    key = upload_and_detect(
        sas_client, data, decompress=True, decompress_max_layer=2, decompress_max_file_count=100
    )
    item = result_of(sas_client, key)
    assert item.compress is True
    assert item.result == 1
    rows, page = [], 1
    while True:
        body = sas_client.list_compress_file_detect_result(
            sas.ListCompressFileDetectResultRequest(hash_key=key, current_page=page, page_size=2)
        ).body
        assert body.page_info.total_count == 3
        rows += body.result_list
        if len(body.result_list) < 2:
            break
        page += 1
    by_path = {r.path: r for r in rows}
    assert set(by_path) == {"docs/readme.txt", "bin/eicar.com", "web/shell.php"}
    assert by_path["bin/eicar.com"].result == 1 and by_path["bin/eicar.com"].virus_type == "Engtest"
    assert by_path["web/shell.php"].virus_type == "WebShell"
    assert by_path["docs/readme.txt"].result == 0
    assert by_path["bin/eicar.com"].hash_key == md5(EICAR)


def test_archive_without_decompress_is_not_expanded(sas_client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("eicar.com", EICAR)
        z.writestr("nonce.txt", uuid.uuid4().hex)
    key = upload_and_detect(sas_client, buf.getvalue())
    item = result_of(sas_client, key)
    assert item.compress is False


def test_a_batch_of_100_hashes(server):
    client = make_client(server)
    keys = []
    for i in range(100):
        data = f"batch file {i} {uuid.uuid4().hex}".encode()
        keys.append(upload_and_detect(client, data))
    for key in keys:
        result_of(client, key)
    items = client.get_file_detect_result(
        sas.GetFileDetectResultRequest(hash_key_list=keys, type=0)
    ).body.result_list
    assert [i.hash_key for i in items] == keys
    assert all(i.result == 0 and i.code == "200" for i in items)
    code, status, _ = error_of(
        lambda: client.get_file_detect_result(
            sas.GetFileDetectResultRequest(hash_key_list=keys + [md5(b"one more")], type=0)
        )
    )
    assert (code, status) == ("InvalidParameter", 400)


def test_unknown_hash_is_get_result_fail(sas_client):
    code, status, text = error_of(
        lambda: sas_client.get_file_detect_result(
            sas.GetFileDetectResultRequest(hash_key_list=[md5(uuid.uuid4().bytes)], type=0)
        )
    )
    assert (code, status) == ("GetResultFail", 400)


def test_mixed_batch_with_an_unknown_hash_fails_whole(server):
    client = make_client(server)
    known = upload_and_detect(client, b"known " + uuid.uuid4().bytes)
    result_of(client, known)
    unknown = md5(uuid.uuid4().bytes)
    code, status, text = error_of(
        lambda: client.get_file_detect_result(
            sas.GetFileDetectResultRequest(hash_key_list=[known, unknown], type=0)
        )
    )
    assert (code, status) == ("GetResultFail", 400)
    assert unknown in text and known not in text


def test_file_exist_skips_the_upload(server):
    client = make_client(server)
    data = b"uploaded once " + uuid.uuid4().bytes
    upload_and_detect(client, data)
    urls = client.create_file_detect_upload_url(
        sas.CreateFileDetectUploadUrlRequest(hash_key_list=[md5(data)], type=0)
    ).body.upload_url_list
    assert urls[0].file_exist is True
    # CreateFileDetect with the returned OssKey works without uploading.
    client.create_file_detect(
        sas.CreateFileDetectRequest(hash_key=md5(data), oss_key=urls[0].context.oss_key, type=0)
    )
    assert result_of(client, md5(data)).result == 0


def test_invoke_info_counts_this_servers_calls(server):
    client = make_client(server)
    before = client.get_file_detect_api_invoke_info().body.data
    client.get_file_detect_api_invoke_info()
    after = client.get_file_detect_api_invoke_info().body.data
    assert after.invoke_count == before.invoke_count + 2
    assert after.time_unit == "SECONDS"
    assert after.remain_auth_count == after.auth_count - after.invoke_count


# --- errors -------------------------------------------------------------------------------------


def test_bad_signature(server):
    for algorithm in ("v3", "v2"):
        client = make_client(server, algorithm, secret="wrong" + SECRET_ACCESS_KEY[5:])
        code, status, _ = error_of(lambda: client.get_file_detect_api_invoke_info())
        assert (code, status) == ("SignatureDoesNotMatch", 400), algorithm


def test_unsupported_type(sas_client):
    code, status, _ = error_of(
        lambda: sas_client.get_file_detect_result(
            sas.GetFileDetectResultRequest(hash_key_list=[md5(b"x")], type=7)
        )
    )
    assert (code, status) == ("InvalidApiDetectType", 400)


def test_missing_parameter(sas_client):
    code, status, _ = error_of(
        lambda: sas_client.create_file_detect(sas.CreateFileDetectRequest(hash_key=md5(b"x"), type=0))
    )
    assert status == 400 and code.startswith("Missing"), code


def test_private_address_url_is_refused(strict_server):
    client = make_client(strict_server)
    for url in ("http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/"):
        code, status, _ = error_of(
            lambda: client.create_file_detect(
                sas.CreateFileDetectRequest(hash_key=md5(url.encode()), download_url=url, type=0)
            )
        )
        assert (code, status) == ("InvalidDownloadUrl", 400), url


def test_requests_over_the_rate_are_too_frequent(server):
    client = raw_client(server)
    codes = []
    for _ in range(400):
        try:
            client.get_file_detect_api_invoke_info()
            codes.append("ok")
        except Exception as e:  # noqa: BLE001
            codes.append((getattr(e, "code", None), getattr(e, "statusCode", None)))
            break
    assert codes[-1] == ("RequestTooFrequently", 400), codes[-3:]
    time.sleep(1.5)
    client.get_file_detect_api_invoke_info()  # the bucket refills


def v2_request(srv, action, params, timestamp=None, nonce=None, secret=SECRET_ACCESS_KEY):
    """A V2-signed POST as tea-openapi sends it (§2.3), built by hand."""
    q = {
        "Action": action,
        "Format": "json",
        "Version": "2018-12-03",
        "Timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": ACCESS_KEY_ID,
        **params,
    }
    enc = lambda s: urllib.parse.quote(s, safe="-_.~")  # noqa: E731
    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(q.items()))
    sts = "POST&%2F&" + enc(canonical)
    sig = hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()
    q["Signature"] = base64.b64encode(sig).decode()
    return requests.post(f"http://127.0.0.1:{srv.port}/?" + urllib.parse.urlencode(q))


def test_stale_timestamp_reused_nonce_unknown_action(server):
    time.sleep(1.5)  # a full rate bucket for this key
    ok = v2_request(server, "GetFileDetectApiInvokeInfo", {})
    assert ok.status_code == 200, ok.text
    stale = v2_request(server, "GetFileDetectApiInvokeInfo", {}, timestamp="2020-01-01T00:00:00Z")
    assert stale.status_code == 400 and stale.json()["Code"] == "InvalidTimeStamp.Expired"
    nonce = uuid.uuid4().hex
    assert v2_request(server, "GetFileDetectApiInvokeInfo", {}, nonce=nonce).status_code == 200
    again = v2_request(server, "GetFileDetectApiInvokeInfo", {}, nonce=nonce)
    assert again.status_code == 400 and again.json()["Code"] == "SignatureNonceUsed"
    unknown = v2_request(server, "DescribeEverything", {})
    assert unknown.status_code == 404 and unknown.json()["Code"] == "InvalidAction.NotFound"
    body = unknown.json()
    assert set(body) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert "DescribeEverything" not in body["Recommend"] and "InvalidAction.NotFound" in body["Recommend"]


def upload_with_a_bad_signature(client, data):
    """Issues an upload slot for `data` and posts the form with a wrong Signature; returns
    the response and the slot's context."""
    urls = client.create_file_detect_upload_url(
        sas.CreateFileDetectUploadUrlRequest(hash_key_list=[md5(data)], type=0)
    ).body.upload_url_list
    ctx = urls[0].context
    r = requests.post(
        urls[0].public_url,
        data={
            "key": ctx.oss_key,
            "policy": ctx.policy,
            "OSSAccessKeyId": ctx.access_id,
            "success_action_status": "200",
            "Signature": base64.b64encode(b"x" * 20).decode(),
        },
        files={"file": data},
    )
    return r, ctx


def test_form_upload_refuses_a_bad_signature(server):
    client = make_client(server)
    data = b"form " + uuid.uuid4().bytes
    r, ctx = upload_with_a_bad_signature(client, data)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    # Nothing was kept: CreateFileDetect with that key is GetFileError.
    code, status, _ = error_of(
        lambda: client.create_file_detect(
            sas.CreateFileDetectRequest(hash_key=md5(data), oss_key=ctx.oss_key, type=0)
        )
    )
    assert (code, status) == ("GetFileError", 400)


def test_form_upload_error_reaches_a_client_still_sending(server):
    """An error found before the file part is read (here a bad signature) is answered after
    reading the rest of the body (up to 8 MiB): a client still sending a few MB gets the XML
    error, not a reset connection. (urllib3 2 also reads a response that arrives while it is
    still sending, so this passes without the drain too; other clients need it.)"""
    r, _ = upload_with_a_bad_signature(make_client(server), os.urandom(6 << 20))
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text


# --- Alibaba's own detection SDK ----------------------------------------------------------------


def test_alibabacloud_filedetect_flow(server, tmp_path):
    pytest.importorskip("alibabacloud_filedetect")
    from alibabacloud_filedetect.DetectResult import DetectResult
    from alibabacloud_filedetect.ERR_CODE import ERR_CODE
    from alibabacloud_filedetect.OpenAPIDetector import OpenAPIDetector

    path = tmp_path / "eicar.com"
    path.write_bytes(EICAR + uuid.uuid4().hex.encode())
    detector = OpenAPIDetector.get_instance()
    assert detector.init(ACCESS_KEY_ID, SECRET_ACCESS_KEY, endpoint=f"127.0.0.1:{server.port}") == ERR_CODE.ERR_SUCC
    detector.client._protocol = "http"  # the SDK has no protocol option (spec §2.4)
    try:
        result = detector.detectSync(str(path), 30000)
        assert result.isSucc(), (result.error_code, result.error_string)
        assert result.result == DetectResult.RESULT.RES_BLACK
        assert result.virus_type == "Engtest"
        assert result.md5 == md5(path.read_bytes())
    finally:
        detector.uninit()
