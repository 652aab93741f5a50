"""The COS object API, end to end through the official Python SDK (cos-python-sdk-v5 1.9.44).

Every test that takes the `client` fixture runs twice, once per SDK mode (proxy, ip/port; see
conftest.py), against the tests' own bucket SDK_BUCKET (region SDK_REGION), and uses keys
under its own `prefix`, so tests do not depend on each other or on their order.

Tests marked `beyond_contract` check COS behaviour that the server contract does not spell
out; each says why it matters.

How the SDK surfaces things (qcloud_cos/cos_client.py, cos_exception.py):
* put/get/head_object return `dict(**response.headers)`: header names keep the case the server
  sent (see test_response_header_case); get_object adds 'Body', a StreamBody.
* Any status >= 400 raises CosServiceError. Its code and message come from the <Error> body
  (Code, Message, Resource and RequestId must all be present or the SDK reports "Unknown"),
  except for HEAD 404, where the SDK makes up code 'NoSuchResource' itself.
* Presigned URLs: in IP/port mode the SDK builds them on http://127.0.0.1:PORT/ and signs
  host=127.0.0.1, so the bucket is not in them; presigned URLs are tested in proxy mode only.
"""

import email.utils
import hashlib
import os
import re
import time
import urllib.parse

import pytest
from qcloud_cos.cos_exception import CosServiceError

from cosutil import (
    APPID,
    DEFAULT_BUCKET,
    DEFAULT_REGION,
    SDK_REGION,
    crc64_xz,
    etag_of,
    has_hdr,
    hdr,
    with_signature_changed,
)

SMALL = b"hashscan sdk conformance test body\n" * 3
NON_ASCII_KEY = "目录/文件 名+plus.txt"
TREE = ["dir/a", "dir/b", "dir/sub/c", "dir/sub/d", "other/x"]
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


# --- helpers ----------------------------------------------------------------------------------


def service_error(fn, *args, **kwargs):
    """Call fn, expect CosServiceError, return it."""
    with pytest.raises(CosServiceError) as info:
        fn(*args, **kwargs)
    return info.value


def assert_error(err, status, code):
    got = (err.get_status_code(), err.get_error_code())
    assert got == (status, code), (
        f"want HTTP {status} {code}, got HTTP {got[0]} {got[1]}; error body: {err.get_origin_msg()!r}"
    )


def assert_head_404(fn, *args, **kwargs):
    """HEAD errors have no body; the SDK only knows the status (and makes up the code)."""
    err = service_error(fn, *args, **kwargs)
    assert err.get_status_code() == 404, f"want HTTP 404, got {err.get_status_code()}: {err}"
    return err


def read_body(resp):
    return b"".join(resp["Body"].get_stream(1 << 16))


def status_of(resp):
    """HTTP status of a get_object response (the SDK keeps the response under StreamBody)."""
    return resp["Body"].get_raw_stream().status


def put(client, bucket, key, data, **kwargs):
    resp = client.put_object(Bucket=bucket, Body=data, Key=key, **kwargs)
    assert hdr(resp, "ETag") == etag_of(data)
    return resp


def listed_keys(result):
    return [c["Key"] for c in result.get("Contents", [])]


def listed_prefixes(result):
    return [c["Prefix"] for c in result.get("CommonPrefixes", [])]


def assert_complete_error_body(err):
    """The SDK understood every field of the <Error> body: Code, Message, Resource, RequestId
    (else it reports "Unknown" for all of them) and TraceId."""
    digest = err.get_digest_msg()
    assert isinstance(digest, dict), f"error body not understood: {err.get_origin_msg()!r}"
    for field in ("code", "message", "resource", "requestid", "traceid"):
        assert digest.get(field) not in (None, "", "Unknown"), (
            f"error digest lacks {field}: {digest!r}; body {err.get_origin_msg()!r} (the SDK reads "
            f"only the code and request id, from headers, when there is an x-cos-error-code header)"
        )
    assert err.get_error_msg() and err.get_request_id()


# --- buckets ----------------------------------------------------------------------------------


def test_default_bucket_exists_and_works(default_client, prefix):
    resp = default_client.head_bucket(Bucket=DEFAULT_BUCKET)
    assert hdr(resp, "x-cos-request-id")
    key = prefix + "hello.txt"
    put(default_client, DEFAULT_BUCKET, key, SMALL)
    assert read_body(default_client.get_object(Bucket=DEFAULT_BUCKET, Key=key)) == SMALL
    assert listed_keys(default_client.list_objects(Bucket=DEFAULT_BUCKET, Prefix=prefix)) == [key]
    default_client.delete_object(Bucket=DEFAULT_BUCKET, Key=key)
    assert_head_404(default_client.head_object, Bucket=DEFAULT_BUCKET, Key=key)


def test_created_bucket_head(client, bucket):
    resp = client.head_bucket(Bucket=bucket)
    assert hdr(resp, "x-cos-request-id")


def test_bucket_location_is_the_region_it_was_created_in(make_client, mode):
    name = f"sdkloc-{mode}-{APPID}"
    client = make_client(mode, "ap-beijing")
    client.create_bucket(Bucket=name)
    try:
        assert client.get_bucket_location(Bucket=name)["LocationConstraint"] == "ap-beijing"
        default = make_client(mode, DEFAULT_REGION)
        assert default.get_bucket_location(Bucket=DEFAULT_BUCKET)["LocationConstraint"] == DEFAULT_REGION
        missing = f"nosuchbucket-{APPID}"
        assert_error(service_error(client.get_bucket_location, Bucket=missing), 404, "NoSuchBucket")
    finally:
        client.delete_bucket(Bucket=name)


def test_missing_bucket(client, mode):
    missing = f"nosuchbucket-{APPID}"
    assert_error(service_error(client.get_object, Bucket=missing, Key="x.txt"), 404, "NoSuchBucket")
    assert_error(
        service_error(client.put_object, Bucket=missing, Body=b"x", Key="x.txt"), 404, "NoSuchBucket"
    )
    assert_error(service_error(client.list_objects, Bucket=missing), 404, "NoSuchBucket")
    assert_head_404(client.head_bucket, Bucket=missing)


def test_delete_bucket_not_empty(make_client, mode):
    """On a bucket of its own, so that a server that wrongly deletes it breaks only this test."""
    client = make_client(mode, SDK_REGION)
    name = f"sdkfull-{mode}-{APPID}"
    client.create_bucket(Bucket=name)
    put(client, name, "keep.txt", SMALL)
    assert_error(service_error(client.delete_bucket, Bucket=name), 409, "BucketNotEmpty")
    client.head_bucket(Bucket=name)
    assert read_body(client.get_object(Bucket=name, Key="keep.txt")) == SMALL


@pytest.mark.beyond_contract  # an empty bucket can be deleted, and is gone afterwards
def test_delete_empty_bucket(make_client, mode):
    client = make_client(mode, SDK_REGION)
    name = f"sdkdel-{mode}-{APPID}"
    client.create_bucket(Bucket=name)
    client.head_bucket(Bucket=name)
    client.delete_bucket(Bucket=name)
    assert_head_404(client.head_bucket, Bucket=name)
    assert_error(service_error(client.get_object, Bucket=name, Key="x"), 404, "NoSuchBucket")


# --- put / get / head -------------------------------------------------------------------------


@pytest.mark.parametrize("data", [SMALL, b""], ids=["small", "empty"])
def test_put_head_get(client, bucket, prefix, data):
    key = prefix + "object.txt"
    resp = client.put_object(
        Bucket=bucket, Body=data, Key=key, Metadata={"x-cos-meta-foo": "bar"}, ContentType="text/plain"
    )
    assert hdr(resp, "ETag") == etag_of(data)
    assert hdr(resp, "x-cos-hash-crc64ecma") == str(crc64_xz(data))
    assert hdr(resp, "x-cos-request-id")
    if not data:
        assert hdr(resp, "ETag") == f'"{EMPTY_MD5}"'
        assert hdr(resp, "x-cos-hash-crc64ecma") == "0"

    head = client.head_object(Bucket=bucket, Key=key)
    assert hdr(head, "Content-Length") == str(len(data))
    assert hdr(head, "ETag") == etag_of(data)
    assert hdr(head, "x-cos-meta-foo") == "bar"
    assert hdr(head, "x-cos-hash-crc64ecma") == str(crc64_xz(data))
    assert hdr(head, "Content-Type") == "text/plain"
    assert email.utils.parsedate_to_datetime(hdr(head, "Last-Modified")) is not None

    got = client.get_object(Bucket=bucket, Key=key)
    assert status_of(got) == 200
    assert read_body(got) == data
    assert hdr(got, "ETag") == etag_of(data)
    assert hdr(got, "Content-Length") == str(len(data))
    assert hdr(got, "x-cos-meta-foo") == "bar"


def test_put_from_file_object(client, bucket, prefix, tmp_path):
    data = os.urandom(300_000)
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    key = prefix + "from-file.bin"
    with open(path, "rb") as f:
        resp = client.put_object(Bucket=bucket, Body=f, Key=key)
    assert hdr(resp, "ETag") == etag_of(data)
    assert hdr(resp, "x-cos-hash-crc64ecma") == str(crc64_xz(data))
    assert read_body(client.get_object(Bucket=bucket, Key=key)) == data


def test_non_ascii_key(client, bucket, prefix):
    """`+` stays a plus and the space a space: the SDK sends `%2B` and `%20` in the path."""
    key = prefix + NON_ASCII_KEY
    data = "内容 with + and space\n".encode()
    resp = put(client, bucket, key, data, Metadata={"x-cos-meta-foo": "bar"})
    assert hdr(resp, "x-cos-hash-crc64ecma") == str(crc64_xz(data))
    assert read_body(client.get_object(Bucket=bucket, Key=key)) == data
    assert hdr(client.head_object(Bucket=bucket, Key=key), "ETag") == etag_of(data)
    # The key the server stored is exactly the one sent (list_objects decodes keys itself).
    assert listed_keys(client.list_objects(Bucket=bucket, Prefix=prefix)) == [key]
    # ...and not a look-alike with '+' read as a space.
    assert_head_404(client.head_object, Bucket=bucket, Key=prefix + "目录/文件 名 plus.txt")


def test_get_object_ranges(client, bucket, prefix):
    data = bytes(range(256)) * 4
    size = len(data)
    key = prefix + "range.bin"
    put(client, bucket, key, data)

    part = client.get_object(Bucket=bucket, Key=key, Range="bytes=10-19")
    assert status_of(part) == 206
    assert hdr(part, "Content-Range") == f"bytes 10-19/{size}"
    assert hdr(part, "Content-Length") == "10"
    assert read_body(part) == data[10:20]

    suffix = client.get_object(Bucket=bucket, Key=key, Range="bytes=-5")
    assert status_of(suffix) == 206
    assert hdr(suffix, "Content-Range") == f"bytes {size - 5}-{size - 1}/{size}"
    assert read_body(suffix) == data[-5:]

    whole = client.get_object(Bucket=bucket, Key=key)
    assert status_of(whole) == 200
    assert not has_hdr(whole, "Content-Range")
    assert read_body(whole) == data


# --- list -------------------------------------------------------------------------------------


def make_tree(client, bucket, prefix):
    for name in TREE:
        put(client, bucket, prefix + name, name.encode())


def test_list_objects_prefix_delimiter(client, bucket, prefix):
    make_tree(client, bucket, prefix)

    r = client.list_objects(Bucket=bucket, Prefix=prefix + "dir/", Delimiter="/")
    assert listed_keys(r) == [prefix + "dir/a", prefix + "dir/b"]
    assert listed_prefixes(r) == [prefix + "dir/sub/"]
    assert r["IsTruncated"] == "false"

    r = client.list_objects(Bucket=bucket, Prefix=prefix, Delimiter="/")
    assert listed_keys(r) == []
    assert listed_prefixes(r) == [prefix + "dir/", prefix + "other/"]

    r = client.list_objects(Bucket=bucket, Prefix=prefix)
    assert listed_keys(r) == [prefix + name for name in TREE]
    assert listed_prefixes(r) == []
    assert r["IsTruncated"] == "false"


@pytest.mark.beyond_contract  # listing entries carry Size and ETag, as in COS
def test_list_objects_entry_fields(client, bucket, prefix):
    make_tree(client, bucket, prefix)
    r = client.list_objects(Bucket=bucket, Prefix=prefix + "dir/sub/")
    assert [(c["Key"], c["Size"], c["ETag"]) for c in r["Contents"]] == [
        (prefix + n, str(len(n)), etag_of(n.encode())) for n in ("dir/sub/c", "dir/sub/d")
    ]


def page_through(client, bucket, **kwargs):
    """[(keys, common prefixes, IsTruncated)] for each page of MaxKeys=1, following NextMarker."""
    pages, marker = [], ""
    for _ in range(20):
        r = client.list_objects(Bucket=bucket, Marker=marker, MaxKeys=1, **kwargs)
        pages.append((listed_keys(r), listed_prefixes(r), r["IsTruncated"]))
        if r["IsTruncated"] != "true":
            break
        assert r.get("NextMarker"), f"IsTruncated is true but NextMarker is missing: {r}"
        marker = r["NextMarker"]
    return pages


def test_list_objects_paging(client, bucket, prefix):
    make_tree(client, bucket, prefix)
    d = prefix + "dir/"
    assert page_through(client, bucket, Prefix=d) == [
        ([d + "a"], [], "true"),
        ([d + "b"], [], "true"),
        ([d + "sub/c"], [], "true"),
        ([d + "sub/d"], [], "false"),
    ]
    # NextMarker is the last key of the page.
    r = client.list_objects(Bucket=bucket, Prefix=d, MaxKeys=1, Marker=d + "a")
    assert (listed_keys(r), r["IsTruncated"], r["NextMarker"]) == ([d + "b"], "true", d + "b")


@pytest.mark.beyond_contract  # with a delimiter, a common prefix counts as one entry of a page
def test_list_objects_paging_with_delimiter(client, bucket, prefix):
    make_tree(client, bucket, prefix)
    d = prefix + "dir/"
    assert page_through(client, bucket, Prefix=d, Delimiter="/") == [
        ([d + "a"], [], "true"),
        ([d + "b"], [], "true"),
        ([], [d + "sub/"], "false"),
    ]


ENCODED_NAMES = ["enc/" + n for n in ("plain.txt", "a b", "文件 名+plus.txt", "percent%41.txt", "sub/x")]


def test_list_objects_encoding_type_url(client, bucket, prefix):
    """With EncodingType='url' the SDK hands back the keys as the server encoded them; without
    it the SDK asks for url encoding anyway and decodes (with unquote, so a '+' must be %2B)."""
    for name in ENCODED_NAMES:
        put(client, bucket, prefix + name, b"x")
    want = sorted(prefix + n for n in ENCODED_NAMES)  # code point order == UTF-8 byte order

    r = client.list_objects(Bucket=bucket, Prefix=prefix + "enc/", EncodingType="url")
    encoded = listed_keys(r)
    for k in encoded:
        assert re.fullmatch(r"[A-Za-z0-9\-_.~%/]*", k), f"key not url-encoded: {k!r}"
    assert [urllib.parse.unquote(k) for k in encoded] == want

    r = client.list_objects(Bucket=bucket, Prefix=prefix + "enc/", Delimiter="/", EncodingType="url")
    assert [urllib.parse.unquote(k) for k in listed_keys(r)] == [k for k in want if "/sub/" not in k]
    assert [urllib.parse.unquote(p) for p in listed_prefixes(r)] == [prefix + "enc/sub/"]

    assert listed_keys(client.list_objects(Bucket=bucket, Prefix=prefix + "enc/")) == want


# --- delete -----------------------------------------------------------------------------------


def test_delete_object(client, bucket, prefix):
    key = prefix + "doomed.txt"
    put(client, bucket, key, SMALL)
    resp = client.delete_object(Bucket=bucket, Key=key)
    assert hdr(resp, "x-cos-request-id")
    err = assert_head_404(client.head_object, Bucket=bucket, Key=key)
    assert err.get_digest_msg().get("requestid"), "HEAD 404 without x-cos-request-id"
    err = service_error(client.get_object, Bucket=bucket, Key=key)
    assert_error(err, 404, "NoSuchKey")
    assert_complete_error_body(err)
    assert listed_keys(client.list_objects(Bucket=bucket, Prefix=prefix)) == []


# --- copy -------------------------------------------------------------------------------------


def test_copy_object_replace_metadata(client, bucket, prefix):
    key = prefix + "copy-in-place.txt"
    data = b"metadata gets replaced\n"
    md5hex = hashlib.md5(data).hexdigest()
    put(client, bucket, key, data, Metadata={"x-cos-meta-foo": "bar"}, ContentType="text/plain")

    resp = client.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key, "Region": SDK_REGION},
        CopyStatus="Replaced",  # sent as x-cos-metadata-directive: Replaced
        Metadata={"x-cos-meta-md5": md5hex},
    )
    assert resp["ETag"] == etag_of(data)  # from the <CopyObjectResult> body

    head = client.head_object(Bucket=bucket, Key=key)
    assert hdr(head, "x-cos-meta-md5") == md5hex
    assert not has_hdr(head, "x-cos-meta-foo"), "Replaced must drop the old user metadata"
    assert hdr(head, "ETag") == etag_of(data)
    assert hdr(head, "Content-Length") == str(len(data))
    assert read_body(client.get_object(Bucket=bucket, Key=key)) == data


def test_copy_object_keeps_metadata(client, bucket, prefix):
    src = prefix + "源/" + NON_ASCII_KEY
    dst = prefix + "copy-dst.txt"
    data = b"metadata is copied\n"
    put(client, bucket, src, data, Metadata={"x-cos-meta-foo": "bar"}, ContentType="text/plain")

    resp = client.copy_object(
        Bucket=bucket,
        Key=dst,
        CopySource={"Bucket": bucket, "Key": src, "Region": SDK_REGION},
        CopyStatus="Copy",
    )
    assert resp["ETag"] == etag_of(data)

    head = client.head_object(Bucket=bucket, Key=dst)
    assert hdr(head, "x-cos-meta-foo") == "bar"
    assert hdr(head, "ETag") == etag_of(data)
    assert hdr(head, "Content-Type") == "text/plain"
    assert hdr(head, "x-cos-hash-crc64ecma") == str(crc64_xz(data))
    assert read_body(client.get_object(Bucket=bucket, Key=dst)) == data
    assert read_body(client.get_object(Bucket=bucket, Key=src)) == data


def test_conditional_get_and_head(client, proxy_client, bucket, prefix, raw):
    key = prefix + "conditional.txt"
    data = b"conditional reads\n"
    put(client, bucket, key, data)

    def presign(method):
        return proxy_client.get_presigned_url(Method=method, Bucket=bucket, Key=key, Expired=300)

    head = client.head_object(Bucket=bucket, Key=key)
    etag, last_modified = hdr(head, "ETag"), hdr(head, "Last-Modified")
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    earlier = email.utils.formatdate(time.time() - 3600, usegmt=True)

    # Conditions that hold: the object as usual.
    for kwargs in ({"IfMatch": etag}, {"IfMatch": "*"}, {"IfNoneMatch": '"0123"'},
                   {"IfModifiedSince": earlier}, {"IfUnmodifiedSince": later},
                   {"IfMatch": etag, "IfUnmodifiedSince": earlier}):
        assert read_body(client.get_object(Bucket=bucket, Key=key, **kwargs)) == data, kwargs

    # The client has it: 304 with the validators, no body (on the wire: the SDK takes any
    # status under 400 as success).
    for headers in ({"If-None-Match": etag}, {"If-None-Match": "*"},
                    {"If-None-Match": f'"0123", W/{etag}'},
                    {"If-Modified-Since": last_modified}, {"If-Modified-Since": later}):
        for method in ("GET", "HEAD"):
            url = presign(method)
            r = raw(method, url, headers=headers)
            assert r.status == 304, (method, headers)
            assert r.headers["ETag"] == etag
            assert r.headers["Last-Modified"] == last_modified
            assert r.body == b""

    # A precondition that does not hold: 412 PreconditionFailed.
    for kwargs in ({"IfMatch": '"0123"'}, {"IfUnmodifiedSince": earlier}):
        with pytest.raises(CosServiceError) as e:
            client.get_object(Bucket=bucket, Key=key, **kwargs)
        assert e.value.get_status_code() == 412, kwargs
        assert e.value.get_error_code() == "PreconditionFailed"

    # RFC 9110's order: If-Match passing makes If-Unmodified-Since irrelevant; If-None-Match
    # is evaluated instead of If-Modified-Since.
    assert read_body(client.get_object(Bucket=bucket, Key=key, IfMatch=etag,
                                       IfUnmodifiedSince=earlier)) == data
    assert read_body(client.get_object(Bucket=bucket, Key=key, IfNoneMatch='"0123"',
                                       IfModifiedSince=later)) == data
    # A date that is not an HTTP date is ignored.
    assert read_body(client.get_object(Bucket=bucket, Key=key,
                                       IfModifiedSince="yesterday")) == data


def test_conditional_copy_source(client, bucket, prefix):
    src, dst = prefix + "cond-src.txt", prefix + "cond-dst.txt"
    data = b"copied only when the source is as expected\n"
    put(client, bucket, src, data)
    etag = hdr(client.head_object(Bucket=bucket, Key=src), "ETag")
    source = {"Bucket": bucket, "Key": src, "Region": SDK_REGION}
    earlier = email.utils.formatdate(time.time() - 3600, usegmt=True)
    for kwargs in ({"CopySourceIfMatch": '"0123"'}, {"CopySourceIfNoneMatch": etag},
                   {"CopySourceIfUnmodifiedSince": earlier},
                   {"CopySourceIfModifiedSince": email.utils.formatdate(time.time() + 3600,
                                                                        usegmt=True)}):
        with pytest.raises(CosServiceError) as e:
            client.copy_object(Bucket=bucket, Key=dst, CopySource=source, **kwargs)
        assert e.value.get_status_code() == 412, kwargs
        assert e.value.get_error_code() == "PreconditionFailed"
        with pytest.raises(CosServiceError) as e:
            client.head_object(Bucket=bucket, Key=dst)
        assert e.value.get_status_code() == 404, "a refused copy writes nothing"
    resp = client.copy_object(Bucket=bucket, Key=dst, CopySource=source,
                              CopySourceIfMatch=etag, CopySourceIfModifiedSince=earlier)
    assert resp["ETag"] == etag
    assert read_body(client.get_object(Bucket=bucket, Key=dst)) == data


def test_delete_multiple_objects(client, bucket, prefix):
    keys = [prefix + f"multi/{i}.txt" for i in range(5)]
    for k in keys:
        put(client, bucket, k, b"x")
    missing = prefix + "multi/never-there"
    resp = client.delete_objects(
        Bucket=bucket,
        Delete={"Object": [{"Key": k} for k in keys[:3] + [missing]], "Quiet": "false"},
    )
    deleted = sorted(d["Key"] for d in resp.get("Deleted", []))
    assert deleted == sorted(keys[:3] + [missing])  # a missing key counts as deleted
    assert not resp.get("Error")
    listed = client.list_objects(Bucket=bucket, Prefix=prefix + "multi/")
    assert sorted(o["Key"] for o in listed.get("Contents", [])) == keys[3:]

    # Quiet: only failures are listed; a bad key fails alone.
    resp = client.delete_objects(
        Bucket=bucket,
        Delete={"Object": [{"Key": keys[3]}, {"Key": "a/../b"}, {"Key": keys[4]}], "Quiet": "true"},
    )
    assert not resp.get("Deleted")
    errors = resp.get("Error", [])
    if isinstance(errors, dict):
        errors = [errors]
    assert [(e["Key"], e["Code"]) for e in errors] == [("a/../b", "InvalidArgument")]
    assert "Contents" not in client.list_objects(Bucket=bucket, Prefix=prefix + "multi/")


def test_delete_multiple_objects_bad_requests(proxy_client, bucket, prefix, raw):
    import base64
    key = prefix + "stays.txt"
    put(proxy_client, bucket, key, b"keep me")

    def post(body, md5=True):
        url = proxy_client.get_presigned_url(Bucket=bucket, Key="/", Method="POST",
                                             Params={"delete": ""}, Expired=300)
        headers = {"Content-Type": "application/xml"}
        if md5:
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        return raw("POST", url, headers=headers, body=body)

    good = f"<Delete><Object><Key>{key}</Key></Object></Delete>".encode()
    r = post(good, md5=False)
    assert (r.status, r.error()["Code"]) == (400, "MissingContentMD5")
    for body in (b"", b"<Delete/>", b"<Delete><Object><Key>x</Key></Object>",
                 b"<!DOCTYPE d [<!ENTITY e 'x'>]><Delete><Object><Key>&e;</Key></Object></Delete>",
                 b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"):
        r = post(body)
        assert (r.status, r.error()["Code"]) == (400, "MalformedXML"), body[:60]
    # A Content-MD5 that does not match the body.
    url = proxy_client.get_presigned_url(Bucket=bucket, Key="/", Method="POST",
                                         Params={"delete": ""}, Expired=300)
    r = raw("POST", url, headers={"Content-MD5": base64.b64encode(b"0" * 16).decode()}, body=good)
    assert (r.status, r.error()["Code"]) == (400, "InvalidDigest")
    assert read_body(proxy_client.get_object(Bucket=bucket, Key=key)) == b"keep me"


def tag_set(resp):
    tags = resp.get("TagSet", {}).get("Tag", []) if resp.get("TagSet") else []
    if isinstance(tags, dict):
        tags = [tags]
    return {t["Key"]: t.get("Value") or "" for t in tags}


def test_object_tagging(client, bucket, prefix):
    key = prefix + "tagged.txt"
    data = b"tags do not touch the data\n"
    client.put_object(Bucket=bucket, Key=key, Body=data,
                      Metadata={"x-cos-meta-owner": "ops"},
                      **{"Tagging": "verdict=clean&scan%20engine=hashscan"})
    assert tag_set(client.get_object_tagging(Bucket=bucket, Key=key)) == {
        "verdict": "clean", "scan engine": "hashscan"}
    before = client.head_object(Bucket=bucket, Key=key)

    client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": {"Tag": [
        {"Key": "verdict", "Value": "malicious"}, {"Key": "rule", "Value": "Webshell_PHP:eval"},
        {"Key": "empty", "Value": ""}]}})
    assert tag_set(client.get_object_tagging(Bucket=bucket, Key=key)) == {
        "verdict": "malicious", "rule": "Webshell_PHP:eval", "empty": ""}
    after = client.head_object(Bucket=bucket, Key=key)
    for h in ("ETag", "Last-Modified", "Content-Length", "x-cos-meta-owner"):
        assert hdr(after, h) == hdr(before, h), h
    assert read_body(client.get_object(Bucket=bucket, Key=key)) == data

    # A copy keeps the source's tags; a new PUT of the key replaces them.
    client.copy_object(Bucket=bucket, Key=key + ".copy",
                       CopySource={"Bucket": bucket, "Key": key, "Region": SDK_REGION})
    assert tag_set(client.get_object_tagging(Bucket=bucket, Key=key + ".copy"))["verdict"] == "malicious"
    client.delete_object_tagging(Bucket=bucket, Key=key)
    assert tag_set(client.get_object_tagging(Bucket=bucket, Key=key)) == {}


def test_object_tagging_limits(client, bucket, prefix):
    key = prefix + "tag-limits.txt"
    put(client, bucket, key, b"x")

    def put_tags(tags):
        with pytest.raises(CosServiceError) as e:
            client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": {"Tag": tags}})
        return e.value

    e = put_tags([{"Key": f"k{i}", "Value": "v"} for i in range(11)])
    assert (e.get_status_code(), e.get_error_code()) == (400, "InvalidTag")
    for bad in ([{"Key": "k" * 129, "Value": "v"}], [{"Key": "k", "Value": "v" * 257}],
                [{"Key": "semi;colon", "Value": "v"}], [{"Key": "a", "Value": "1"},
                                                         {"Key": "a", "Value": "2"}]):
        e = put_tags(bad)
        assert (e.get_status_code(), e.get_error_code()) == (400, "InvalidTag"), bad
    with pytest.raises(CosServiceError) as e:
        client.put_object(Bucket=bucket, Key=key, Body=b"y", Tagging="a=1&a=2")
    assert (e.value.get_status_code(), e.value.get_error_code()) == (400, "InvalidTag")
    assert read_body(client.get_object(Bucket=bucket, Key=key)) == b"x"
    with pytest.raises(CosServiceError) as e:
        client.get_object_tagging(Bucket=bucket, Key=key + ".missing")
    assert (e.value.get_status_code(), e.value.get_error_code()) == (404, "NoSuchKey")


# --- big objects ------------------------------------------------------------------------------


def test_put_get_200_mib_streamed(make_client, mode, bucket, prefix, big_file):
    client = make_client(mode, SDK_REGION, timeout=300)
    key = prefix + "big.bin"
    try:
        with open(big_file.path, "rb") as f:  # requests streams it, Content-Length from fstat
            resp = client.put_object(Bucket=bucket, Body=f, Key=key)
        assert hdr(resp, "ETag") == f'"{big_file.md5}"'
        assert hdr(resp, "x-cos-hash-crc64ecma") == str(big_file.crc64)

        head = client.head_object(Bucket=bucket, Key=key)
        assert hdr(head, "Content-Length") == str(big_file.size)
        assert hdr(head, "x-cos-hash-crc64ecma") == str(big_file.crc64)

        got = client.get_object(Bucket=bucket, Key=key)
        assert status_of(got) == 200
        md5, size = hashlib.md5(), 0
        for chunk in got["Body"].get_stream(1 << 20):
            md5.update(chunk)
            size += len(chunk)
        assert (size, md5.hexdigest()) == (big_file.size, big_file.md5)
    finally:
        try:
            client.delete_object(Bucket=bucket, Key=key)  # free the server's disk
        except CosServiceError:
            pass


@pytest.mark.beyond_contract  # needs exact header-name case, see test_response_header_case
def test_sdk_download_file_ranged_with_crc_check(client, bucket, prefix, tmp_path):
    """download_file splits objects over PartSize MB into parallel ranged GETs and, with
    EnableCRC, compares the file's CRC-64 with head_object()['x-cos-hash-crc64ecma']."""
    data = os.urandom(5 * 1024 * 1024 + 12345)
    key = prefix + "download.bin"
    put(client, bucket, key, data)
    dest = tmp_path / "out.bin"
    client.download_file(
        Bucket=bucket,
        Key=key,
        DestFilePath=str(dest),
        PartSize=1,
        MAXThread=4,
        EnableCRC=True,
        DumpRecordDir=str(tmp_path / "records"),
    )
    assert dest.read_bytes() == data


@pytest.mark.beyond_contract  # real COS's header names; the SDK's response dicts keep wire case
def test_response_header_case(client, bucket, prefix):
    """The SDK returns `dict(**response.headers)`, a plain dict keyed by the header names as
    sent. Code written for COS reads resp['ETag'] (the SDK's own docstrings do) and the SDK's
    download_file reads head_object()['Content-Length'], ['ETag'], ['Last-Modified'] and
    ['x-cos-hash-crc64ecma'], so the names must be cased as COS sends them: `ETag` (not
    `etag`, nor hyper's title case `Etag`) and lower-case `x-cos-*`."""
    key = prefix + "case.txt"
    resp = client.put_object(
        Bucket=bucket, Body=SMALL, Key=key, Metadata={"x-cos-meta-foo": "bar"}, ContentType="text/plain"
    )
    want = {"ETag", "x-cos-hash-crc64ecma", "x-cos-request-id"}
    assert want <= set(resp), f"missing {want - set(resp)}; got {sorted(resp)}"

    head = client.head_object(Bucket=bucket, Key=key)
    want = {
        "Content-Length",
        "Content-Type",
        "ETag",
        "Last-Modified",
        "x-cos-hash-crc64ecma",
        "x-cos-meta-foo",
        "x-cos-request-id",
    }
    assert want <= set(head), f"missing {want - set(head)}; got {sorted(head)}"

    got = client.get_object(Bucket=bucket, Key=key, Range="bytes=0-3")
    want = {"Content-Length", "Content-Range", "ETag", "x-cos-request-id"}
    keys = set(got) - {"Body"}
    assert want <= keys, f"missing {want - keys}; got {sorted(keys)}"
    read_body(got)


# --- presigned URLs and expiry (proxy mode: the URL carries the bucket host) -----------------


def test_presigned_download_url(proxy_client, bucket, prefix, raw, server, http_session):
    key = prefix + "预签名 file+1.txt"
    data = b"fetched through a presigned url\n"
    put(proxy_client, bucket, key, data)
    url = proxy_client.get_presigned_download_url(Bucket=bucket, Key=key, Expired=300)
    assert url.startswith(f"http://{bucket}.cos.{SDK_REGION}.myqcloud.com/")

    # origin-form request with the URL's host in Host:
    r = raw("GET", url)
    assert (r.status, r.body) == (200, data), r
    assert r.header("ETag") == etag_of(data)
    # absolute-form request through the "proxy", as a browser or requests would send it
    r2 = http_session.get(url, proxies={"http": f"http://127.0.0.1:{server.port}"}, timeout=30)
    assert (r2.status_code, r2.content) == (200, data)

    bad = raw("GET", with_signature_changed(url))
    assert bad.status == 403, bad
    assert bad.error()["Code"] == "SignatureDoesNotMatch", bad


def test_presigned_url_expired(proxy_client, bucket, prefix, raw):
    key = prefix + "expires.txt"
    put(proxy_client, bucket, key, SMALL)
    url = proxy_client.get_presigned_download_url(Bucket=bucket, Key=key, Expired=1)
    time.sleep(2)
    r = raw("GET", url)
    assert r.status == 403, r
    err = r.error()
    assert err["Code"] == "AccessDenied", r
    assert "expired" in err["Message"].lower(), r


def test_authorization_header_expired(proxy_client, bucket, prefix, raw):
    key = prefix + "expired-header.txt"
    put(proxy_client, bucket, key, SMALL)
    url = proxy_client.get_object_url(Bucket=bucket, Key=key)

    # Control: a raw request signed like the SDK signs, still valid -> 200.
    fresh = proxy_client.get_auth(Method="GET", Bucket=bucket, Key=key, Expired=300)
    r = raw("GET", url, headers={"Authorization": fresh})
    assert (r.status, r.body) == (200, SMALL), r

    # q-sign-time = now-60;now-10: ended in the past.
    stale = proxy_client.get_auth(Method="GET", Bucket=bucket, Key=key, Expired=-10)
    end = int(re.search(r"q-sign-time=\d+;(\d+)", stale).group(1))
    assert end < time.time()
    r = raw("GET", url, headers={"Authorization": stale})
    assert r.status == 403, r
    err = r.error()
    assert err["Code"] == "AccessDenied", r
    assert "expired" in err["Message"].lower(), r


# --- authentication ---------------------------------------------------------------------------


def test_wrong_secret_key(make_client, mode, client, bucket, prefix):
    bad = make_client(mode, SDK_REGION, secret_key="X" * 32)
    key = prefix + "never.txt"
    err = service_error(bad.put_object, Bucket=bucket, Body=SMALL, Key=key)
    assert_error(err, 403, "SignatureDoesNotMatch")
    assert_complete_error_body(err)
    assert_head_404(client.head_object, Bucket=bucket, Key=key)  # nothing was written

    put(client, bucket, key, SMALL)
    err = service_error(bad.get_object, Bucket=bucket, Key=key)
    assert_error(err, 403, "SignatureDoesNotMatch")
    assert_complete_error_body(err)


def test_unknown_secret_id(make_client, mode, client, bucket, prefix):
    stranger = make_client(mode, SDK_REGION, secret_id="AKIDnobodyKnowsThisKey00000000000000")
    key = prefix + "never.txt"
    err = service_error(stranger.put_object, Bucket=bucket, Body=SMALL, Key=key)
    assert_error(err, 403, "InvalidAccessKeyId")
    assert_complete_error_body(err)
    assert_head_404(client.head_object, Bucket=bucket, Key=key)


def test_unsigned_request_denied(proxy_client, bucket, prefix, raw):
    key = prefix + "private.txt"
    put(proxy_client, bucket, key, SMALL)
    url = proxy_client.get_object_url(Bucket=bucket, Key=key)

    r = raw("GET", url)
    assert r.status == 403, r
    err = r.error()
    assert err["Code"] == "AccessDenied", r
    for element in ("Message", "Resource", "RequestId", "TraceId"):
        assert err.get(element), f"<{element}> missing or empty: {r}"

    new_url = proxy_client.get_object_url(Bucket=bucket, Key=prefix + "anonymous.txt")
    r = raw("PUT", new_url, body=b"anonymous write")
    assert r.status == 403, r
    assert r.error()["Code"] == "AccessDenied", r
    assert_head_404(proxy_client.head_object, Bucket=bucket, Key=prefix + "anonymous.txt")


# --- bad input --------------------------------------------------------------------------------


def names_under(root, names):
    """Paths of files and directories called one of `names` under root, plus root's siblings."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            if n in names:
                found.add(os.path.join(dirpath, n))
    for n in names:
        if os.path.lexists(os.path.join(os.path.dirname(root), n)):
            found.add(os.path.join(os.path.dirname(root), n))
    return found


ESCAPE_NAMES = {"escape.txt", "b"}
TRAVERSAL_KEYS = ["../escape.txt", "a/../../b", "../../../escape.txt", "x/y/../../../escape.txt"]


@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
def test_traversal_key_rejected(client, bucket, server, key):
    """The SDK keeps the dots: '../escape.txt' goes out as '/..%2Fescape.txt' and 'a/../../b'
    as '/a/..%2F..%2Fb' (cos_client.CosConfig.uri), so the server decodes exactly `key`."""
    root = str(server.root)
    before = names_under(root, ESCAPE_NAMES)
    err = service_error(client.put_object, Bucket=bucket, Body=b"escaped!", Key=key)
    assert_error(err, 400, "InvalidArgument")
    assert names_under(root, ESCAPE_NAMES) - before == set()
    assert not [p for p in names_under(root, {"escape.txt"})], "escape.txt exists under the tmp dir"


@pytest.mark.beyond_contract  # literal dot segments in a raw request path are not normalised away
@pytest.mark.parametrize("key", ["../escape.txt", "a/../../escape.txt"])
def test_traversal_key_literal_dot_segments(proxy_client, bucket, server, raw, key):
    """The same keys sent by hand with literal `/../` in the request path (properly signed)."""
    root = str(server.root)
    before = names_under(root, ESCAPE_NAMES)
    auth = proxy_client.get_auth(Method="PUT", Bucket=bucket, Key=key, Expired=300)
    url = f"http://{bucket}.cos.{SDK_REGION}.myqcloud.com/{key}"
    r = raw("PUT", url, headers={"Authorization": auth}, body=b"escaped!")
    assert r.status == 400, r
    assert r.error()["Code"] == "InvalidArgument", r
    assert names_under(root, ESCAPE_NAMES) - before == set()


def test_bad_content_md5(client, bucket, prefix):
    key = prefix + "bad-md5.txt"
    err = service_error(
        client.put_object, Bucket=bucket, Body=SMALL, Key=key, ContentMD5="AAAAAAAAAAAAAAAAAAAAAA=="
    )
    assert_error(err, 400, "InvalidDigest")
    assert_complete_error_body(err)
    assert_head_404(client.head_object, Bucket=bucket, Key=key)


def test_correct_content_md5_accepted(client, bucket, prefix):
    key = prefix + "good-md5.txt"
    resp = client.put_object(Bucket=bucket, Body=SMALL, Key=key, EnableMD5=True)  # SDK sets Content-MD5
    assert hdr(resp, "ETag") == etag_of(SMALL)
    assert read_body(client.get_object(Bucket=bucket, Key=key)) == SMALL


def key_of_bytes(prefix, n, filler):
    """prefix + repeated `filler` (+ 'k' padding), exactly n bytes in UTF-8."""
    room = n - len(prefix.encode())
    unit = len(filler.encode())
    key = prefix + filler * (room // unit) + "k" * (room % unit)
    assert len(key.encode()) == n
    return key


@pytest.mark.parametrize("filler", ["k", "文"], ids=["ascii", "utf8"])
def test_key_too_long(client, bucket, prefix, filler):
    key = key_of_bytes(prefix, 851, filler)
    err = service_error(client.put_object, Bucket=bucket, Body=SMALL, Key=key)
    assert_error(err, 400, "KeyTooLong")
    assert_complete_error_body(err)


@pytest.mark.beyond_contract  # COS's limit is 850 bytes, so 850 is accepted (one path segment!)
@pytest.mark.parametrize("filler", ["k", "文"], ids=["ascii", "utf8"])
def test_key_of_850_bytes_accepted(client, bucket, prefix, filler):
    key = key_of_bytes(prefix, 850, filler)
    put(client, bucket, key, SMALL)
    assert read_body(client.get_object(Bucket=bucket, Key=key)) == SMALL
    assert listed_keys(client.list_objects(Bucket=bucket, Prefix=prefix)) == [key]
    client.delete_object(Bucket=bucket, Key=key)


# --- request ids --------------------------------------------------------------------------------


def test_request_id_on_every_response(client, bucket, prefix):
    """Spelled out here; the autouse fixture in conftest.py checks every response of every test."""
    key = prefix + "rid.txt"
    ids = [hdr(put(client, bucket, key, SMALL), "x-cos-request-id")]
    ids.append(hdr(client.head_object(Bucket=bucket, Key=key), "x-cos-request-id"))
    got = client.get_object(Bucket=bucket, Key=key)
    read_body(got)
    ids.append(hdr(got, "x-cos-request-id"))
    ids.append(hdr(client.delete_object(Bucket=bucket, Key=key), "x-cos-request-id"))
    err = service_error(client.get_object, Bucket=bucket, Key=key)
    ids.append(err.get_request_id())
    err = service_error(client.head_object, Bucket=bucket, Key=key)
    ids.append(err.get_digest_msg().get("requestid"))
    assert all(ids), ids
    assert len(set(ids)) == len(ids), f"request ids repeat: {ids}"
