"""COS POST Object (a browser form upload with a signed policy), sent the way a browser
sends an HTML form (`requests` multipart/form-data, the file last) and signed as Tencent's
documentation and Java SDK (COSSigner.buildPostObjectSignature) sign it: SignKey =
HMAC-SHA1(SecretKey, q-key-time), Signature = HMAC-SHA1(SignKey, SHA1(policy JSON)). No COS
SDK wraps POST Object: browsers and hand-written forms are its clients. Every stored object is
read back through the Python SDK."""

import base64
import datetime
import hashlib
import hmac
import json
import os
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
import requests
from qcloud_cos.cos_exception import CosServiceError

from cosutil import ACCESS_KEY_ID, SDK_BUCKET, SECRET_ACCESS_KEY


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def signed_fields(key, conditions, ak=ACCESS_KEY_ID, sk=SECRET_ACCESS_KEY, expires_in=600, key_time=None):
    now = int(time.time())
    key_time = key_time or f"{now - 60};{now + expires_in}"
    policy = json.dumps({
        "expiration": iso(now + expires_in),
        "conditions": [{"q-sign-algorithm": "sha1"}, {"q-ak": ak}, {"q-sign-time": key_time}] + conditions,
    })
    sign_key = hmac.new(sk.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    signature = hmac.new(sign_key.encode(), hashlib.sha1(policy.encode()).hexdigest().encode(),
                         hashlib.sha1).hexdigest()
    return {
        "key": key,
        "policy": base64.b64encode(policy.encode()).decode(),
        "q-sign-algorithm": "sha1",
        "q-ak": ak,
        "q-key-time": key_time,
        "q-signature": signature,
    }


def post(server, fields, body=b"form bytes", filename="local name.txt", bucket=SDK_BUCKET, files=None):
    # requests puts `data` fields first and `files` last, as a browser orders an HTML form.
    return requests.post(
        f"http://127.0.0.1:{server.port}/{bucket}/",
        data=fields,
        files=files if files is not None else {"file": (filename, body, "application/octet-stream")},
        allow_redirects=False,
        timeout=30,
    )


def error_code(r):
    return ET.fromstring(r.content).findtext("Code")


def read(client, key):
    return client.get_object(Bucket=SDK_BUCKET, Key=key)["Body"].get_raw_stream().read()


def test_a_signed_form_stores_the_file_with_its_metadata(server, proxy_client, prefix):
    data = os.urandom(50_000)
    key = prefix + "form/upload.bin"
    fields = signed_fields(key, [{"bucket": SDK_BUCKET}, ["starts-with", "$key", prefix + "form/"],
                                 ["content-length-range", 1, 1_000_000]])
    fields.update({"Content-Type": "application/x-form", "x-cos-meta-source": "browser",
                   "Cache-Control": "no-cache"})
    r = post(server, fields, data)
    assert r.status_code == 204, r.text
    assert r.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert r.headers["Location"].endswith("/" + key)
    assert read(proxy_client, key) == data
    head = proxy_client.head_object(Bucket=SDK_BUCKET, Key=key)
    assert head["Content-Type"] == "application/x-form"
    assert head["x-cos-meta-source"] == "browser"
    assert head["Cache-Control"] == "no-cache"


def test_filename_placeholder_and_success_statuses(server, proxy_client, prefix):
    fields = signed_fields(prefix + "${filename}", [])
    fields["success_action_status"] = "201"
    r = post(server, fields, b"named", filename="C:\\Users\\me\\photo.jpg")
    assert r.status_code == 201, r.text
    doc = ET.fromstring(r.content)
    assert doc.tag == "PostResponse"
    assert doc.findtext("Key") == prefix + "photo.jpg"
    assert doc.findtext("Bucket") == SDK_BUCKET
    assert doc.findtext("ETag") == f'"{hashlib.md5(b"named").hexdigest()}"'
    assert read(proxy_client, prefix + "photo.jpg") == b"named"

    fields = signed_fields(prefix + "two", [])
    fields["success_action_status"] = "200"
    r = post(server, fields, b"two")
    assert (r.status_code, r.content) == (200, b"")


def test_success_action_redirect(server, prefix):
    key = prefix + "redirected"
    fields = signed_fields(key, [])
    fields["success_action_redirect"] = "https://app.example.com/done?x=1"
    r = post(server, fields, b"r")
    assert r.status_code == 303, r.text
    loc = urllib.parse.urlsplit(r.headers["Location"])
    q = urllib.parse.parse_qs(loc.query)
    assert (loc.scheme, loc.netloc, loc.path) == ("https", "app.example.com", "/done")
    assert q["x"] == ["1"] and q["bucket"] == [SDK_BUCKET] and q["key"] == [key]
    assert q["etag"] == [f'"{hashlib.md5(b"r").hexdigest()}"']


def refused(server, proxy_client, fields, key, body=b"x", **kw):
    r = post(server, fields, body, **kw)
    with pytest.raises(CosServiceError):
        proxy_client.head_object(Bucket=SDK_BUCKET, Key=key)  # nothing stored
    return r.status_code, error_code(r)


def test_forged_expired_or_out_of_policy_forms_store_nothing(server, proxy_client, prefix):
    key = prefix + "refused"
    wrong_sig = signed_fields(key, [], sk="0" * 32)
    assert refused(server, proxy_client, wrong_sig, key) == (403, "SignatureDoesNotMatch")

    unknown = signed_fields(key, [], ak="AKIDnobody")
    assert refused(server, proxy_client, unknown, key) == (403, "InvalidAccessKeyId")

    past = int(time.time()) - 7200
    expired = signed_fields(key, [], key_time=f"{past};{past + 60}")
    assert refused(server, proxy_client, expired, key)[0] == 403

    # The signature covers the policy, the policy the key: another key is refused.
    moved = signed_fields(key, [["eq", "$key", key]])
    moved["key"] = prefix + "elsewhere"
    r = post(server, moved, b"x")
    assert (r.status_code, error_code(r)) == (403, "AccessDenied")

    other_bucket = signed_fields(key, [{"bucket": "another-1250000000"}])
    assert refused(server, proxy_client, other_bucket, key) == (403, "AccessDenied")

    big = signed_fields(key, [["content-length-range", 0, 10]])
    assert refused(server, proxy_client, big, key, body=b"x" * 11) == (400, "EntityTooLarge")
    small = signed_fields(key, [["content-length-range", 5, 10]])
    assert refused(server, proxy_client, small, key, body=b"x") == (400, "EntityTooSmall")

    bad_policy = signed_fields(key, [])
    bad_policy["policy"] = "not base64!"
    assert refused(server, proxy_client, bad_policy, key) == (400, "InvalidPolicyDocument")

    unsigned = {"key": key}
    assert refused(server, proxy_client, unsigned, key) == (400, "InvalidArgument")

    acl = signed_fields(key, [])
    acl["acl"] = "public-read"
    assert refused(server, proxy_client, acl, key) == (501, "NotImplemented")

    # Encryption hashscan does not do: refused, never stored in the clear.
    sse = signed_fields(key, [])
    sse["x-cos-server-side-encryption"] = "AES256"
    assert refused(server, proxy_client, sse, key) == (501, "NotImplemented")


def test_malformed_forms(server, proxy_client, prefix):
    key = prefix + "malformed"
    # No file part.
    r = requests.post(f"http://127.0.0.1:{server.port}/{SDK_BUCKET}/",
                      files={"key": (None, key)}, timeout=30)
    assert (r.status_code, error_code(r)) == (400, "InvalidArgument")
    # A field after the file.
    fields = signed_fields(key, [])
    boundary = "hashscanboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    body = ("".join(parts) + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
            "data\r\n" + f'--{boundary}\r\nContent-Disposition: form-data; name="late"\r\n\r\nx\r\n--{boundary}--\r\n')
    r = requests.post(f"http://127.0.0.1:{server.port}/{SDK_BUCKET}/", data=body.encode(),
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30)
    assert (r.status_code, error_code(r)) == (400, "InvalidArgument"), r.text
    # Cut off in the middle of the file.
    r = requests.post(f"http://127.0.0.1:{server.port}/{SDK_BUCKET}/", data=body.encode()[:-60],
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30)
    assert r.status_code == 400, r.text
    with pytest.raises(CosServiceError):
        proxy_client.head_object(Bucket=SDK_BUCKET, Key=key)
