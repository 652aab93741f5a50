"""The hostile-client suite: what careless clients and attackers holding a key (or none) tried,
replayed through the official SDKs and raw HTTP. Each test asserts that nothing was destroyed,
no verdict was forged and nobody reached past their rights.

- COS sub-resources hashscan does not implement (tagging, acl, cors, …) are refused before
  anything is touched: the object's bytes and metadata and the bucket stay as they were.
- AddToHeader jobs on one object merge their metadata; none undoes another.
- Writing metadata through the sync filehash needs a signature that covers it.
- Keys XML cannot carry are refused; response-header overrides need a signature.
- A detection submitted under another file's hash fails and hides no real result.
"""

import hashlib
import threading
import time
import uuid

import pytest
from alibabacloud_sas20181203 import models as sas
from qcloud_cos.cos_exception import CosServiceError

from cosutil import hdr
from test_sas import EICAR, make_client, md5, result_of, sha256, upload_and_detect

# Every sub-resource hashscan refuses (crates/server/src/cos/subresource.rs, UNSUPPORTED), in
# the spelling the SDKs send; on the (level, method) that implements one it is not refused.
SUB_RESOURCES = [
    "accelerate", "acl", "append", "cors", "delete", "domain", "domaincertificate",
    "encryption", "guetzli", "image-process", "imageInspect", "intelligent-tiering",
    "intelligenttiering", "inventory", "lifecycle", "live", "location", "logging", "metaquery",
    "notification", "object-lock", "origin", "partNumber", "policy", "position", "referer",
    "rename", "replication", "requestPayment", "restore", "retention", "select", "select-type",
    "style", "symlink", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
    "versions", "vod", "website",
]
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
IMPLEMENTED = {("bucket", "POST", "delete"), ("bucket", "GET", "location"), ("object", "GET", "tagging"),
               ("object", "PUT", "tagging"), ("object", "DELETE", "tagging"),
               # multipart upload
               ("object", "POST", "uploads"), ("bucket", "GET", "uploads"),
               ("object", "PUT", "partNumber"), ("object", "GET", "uploadId"),
               ("object", "PUT", "uploadId"), ("object", "POST", "uploadId"),
               ("object", "DELETE", "uploadId")}

TAGGING_XML = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"


def snapshot(client, bucket, key):
    """The object's bytes and the metadata a HEAD shows."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"].get_raw_stream().read()
    head = client.head_object(Bucket=bucket, Key=key)
    meta = {k.lower(): v for k, v in head.items() if k.lower().startswith("x-cos-meta-")}
    return body, hdr(head, "ETag"), hdr(head, "Content-Type"), meta


def put_fixture(client, bucket, key):
    client.put_object(
        Bucket=bucket, Key=key, Body=b"precious bytes", ContentType="text/plain",
        Metadata={"x-cos-meta-owner": "ops"},
    )
    return snapshot(client, bucket, key)


def refused(call):
    with pytest.raises(CosServiceError) as info:
        call()
    return info.value


# --- unsupported sub-resources -------------------------------------------------------------------


def test_sdk_tagging_keeps_the_object_and_acl_calls_change_nothing(proxy_client, bucket, prefix):
    key = prefix + "obj.txt"
    before = put_fixture(proxy_client, bucket, key)
    # Tagging is implemented: it changes the tags, never the bytes or the metadata.
    proxy_client.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": {"Tag": [{"Key": "k", "Value": "v"}]}})
    assert snapshot(proxy_client, bucket, key) == before
    proxy_client.delete_object_tagging(Bucket=bucket, Key=key)
    assert snapshot(proxy_client, bucket, key) == before
    calls = [
        lambda: proxy_client.put_object_acl(Bucket=bucket, Key=key, ACL="public-read"),
        lambda: proxy_client.get_object_acl(Bucket=bucket, Key=key),
    ]
    for call in calls:
        e = refused(call)
        assert e.get_status_code() == 501, e
        assert e.get_error_code() == "NotImplemented", e
        assert snapshot(proxy_client, bucket, key) == before


def test_writes_asking_for_encryption_are_refused_and_store_nothing(proxy_client, bucket, prefix):
    """hashscan does not encrypt objects itself: a PUT, a copy or a multipart upload that asks
    for it (SSE-COS, SSE-KMS, SSE-C) answers 501 and stores nothing, rather than keeping in the
    clear what the client believes encrypted."""
    key = prefix + "sse.txt"
    before = put_fixture(proxy_client, bucket, key)
    fresh = prefix + "sse-new.txt"
    sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY=",
             "SSECustomerKeyMD5": "U5L61r7jcwdNvT7frmUG8g=="}
    calls = [
        lambda: proxy_client.put_object(Bucket=bucket, Key=key, Body=b"overwritten",
                                        ServerSideEncryption="AES256"),
        lambda: proxy_client.put_object(Bucket=bucket, Key=fresh, Body=b"new",
                                        ServerSideEncryption="cos/kms"),
        lambda: proxy_client.put_object(Bucket=bucket, Key=key, Body=b"overwritten", **sse_c),
        lambda: proxy_client.copy_object(
            Bucket=bucket, Key=fresh, CopySource={"Bucket": bucket, "Key": key, "Region": "ap-guangzhou"},
            ServerSideEncryption="AES256"),
        lambda: proxy_client.create_multipart_upload(Bucket=bucket, Key=fresh,
                                                     ServerSideEncryption="AES256"),
    ]
    for call in calls:
        e = refused(call)
        assert (e.get_status_code(), e.get_error_code()) == (501, "NotImplemented"), e
        assert "encrypt" in e.get_error_msg(), e
        assert snapshot(proxy_client, bucket, key) == before
        assert not proxy_client.object_exists(Bucket=bucket, Key=fresh)
    uploads = proxy_client.list_multipart_uploads(Bucket=bucket, Prefix=fresh)
    assert not uploads.get("Upload"), uploads


def test_sdk_bucket_configuration_deletes_do_not_delete_the_bucket(make_client):
    name = f"hostile{uuid.uuid4().hex[:8]}-1250000000"
    c = make_client("proxy", "ap-chongqing")
    c.create_bucket(Bucket=name)
    for call in [
        lambda: c.delete_bucket_cors(Bucket=name),
        lambda: c.delete_bucket_lifecycle(Bucket=name),
        lambda: c.delete_bucket_tagging(Bucket=name),
        lambda: c.delete_bucket_website(Bucket=name),
        lambda: c.delete_bucket_policy(Bucket=name),
        lambda: c.put_bucket_acl(Bucket=name, ACL="public-read"),
    ]:
        e = refused(call)
        assert e.get_status_code() == 501, e
        c.head_bucket(Bucket=name)  # still there: raises when it is not
    c.delete_bucket(Bucket=name)


@pytest.mark.parametrize("sub", SUB_RESOURCES)
def test_every_sub_resource_on_every_method_is_refused_and_changes_nothing(
    proxy_client, raw, bucket, prefix, sub
):
    """Signed raw requests (the signature covers the sub-resource): object bytes, metadata and
    the bucket's existence unchanged, 501 NotImplemented in COS's XML."""
    key = prefix + "obj.txt"
    before = put_fixture(proxy_client, bucket, key)
    for level, target in (("object", key), ("bucket", "/")):
        for method in METHODS:
            if (level, method, sub) in IMPLEMENTED:
                continue
            url = proxy_client.get_presigned_url(
                Bucket=bucket, Key=target, Method=method, Params={sub: ""}, Expired=300)
            r = raw(method, url, body=TAGGING_XML if method in ("PUT", "POST") else None)
            assert r.status == 501, (level, method, sub, r)
            if method != "HEAD":
                assert r.error()["Code"] == "NotImplemented", (level, method, sub, r)
            assert snapshot(proxy_client, bucket, key) == before, (level, method, sub)
    proxy_client.head_bucket(Bucket=bucket)  # raises when the bucket is gone


def test_unknown_parameters_on_writes_are_refused_reads_ignore_them(proxy_client, raw, bucket, prefix):
    key = prefix + "obj.txt"
    before = put_fixture(proxy_client, bucket, key)
    url = proxy_client.get_presigned_url(
        Bucket=bucket, Key=key, Method="PUT", Params={"frobnicate": "1"}, Expired=300)
    r = raw("PUT", url, body=b"replacement")
    assert r.status == 501 and r.error()["Code"] == "NotImplemented", r
    url = proxy_client.get_presigned_url(
        Bucket=bucket, Key=key, Method="DELETE", Params={"frobnicate": "1"}, Expired=300)
    assert raw("DELETE", url).status == 501
    assert snapshot(proxy_client, bucket, key) == before
    url = proxy_client.get_presigned_url(
        Bucket=bucket, Key=key, Method="GET", Params={"t": "123"}, Expired=300)
    r = raw("GET", url)
    assert r.status == 200 and r.body == b"precious bytes"


# --- AddToHeader -----------------------------------------------------------------------------------


def wait_jobs(client, bucket, ids, timeout=60):
    deadline = time.time() + timeout
    while True:
        detail = client.ci_get_file_process_jobs(Bucket=bucket, JobIDs=",".join(ids))["JobsDetail"]
        if isinstance(detail, dict):
            detail = [detail]
        states = [d["State"] for d in detail]
        if all(s in ("Success", "Failed", "Cancel") for s in states):
            return detail
        assert time.time() < deadline, states
        time.sleep(0.05)


@pytest.mark.parametrize("trial", range(3))
def test_three_add_to_header_jobs_all_land(proxy_client, bucket, prefix, trial):
    key = f"{prefix}trial{trial}.bin"
    data = uuid.uuid4().bytes * 4096
    proxy_client.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"x-cos-meta-keep": "yes"})
    ids = []
    for t in ("MD5", "SHA1", "SHA256"):
        job = proxy_client.ci_create_file_hash_job(
            Bucket=bucket, InputObject=key, FileHashCodeConfig={"Type": t, "AddToHeader": "true"})
        ids.append(job["JobsDetail"]["JobId"])
    detail = wait_jobs(proxy_client, bucket, ids)
    assert [d["State"] for d in detail] == ["Success"] * 3, detail
    head = proxy_client.head_object(Bucket=bucket, Key=key)
    assert hdr(head, "x-cos-meta-md5") == hashlib.md5(data).hexdigest()
    assert hdr(head, "x-cos-meta-sha1") == hashlib.sha1(data).hexdigest()
    assert hdr(head, "x-cos-meta-sha256") == hashlib.sha256(data).hexdigest()
    assert hdr(head, "x-cos-meta-keep") == "yes"


def test_concurrent_sync_filehash_writes_merge(proxy_client, raw, bucket, prefix):
    key = prefix + "sync.bin"
    data = b"sync" * 10000
    proxy_client.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"x-cos-meta-keep": "1"})
    urls = [
        proxy_client.get_presigned_url(
            Bucket=bucket, Key=key, Method="GET",
            Params={"ci-process": "filehash", "type": t, "addtoheader": "true"})
        for t in ("md5", "sha1", "sha256")
    ]
    statuses = []
    threads = [threading.Thread(target=lambda u=u: statuses.append(raw("GET", u).status))
               for u in urls * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 9, statuses
    head = proxy_client.head_object(Bucket=bucket, Key=key)
    assert hdr(head, "x-cos-meta-md5") == hashlib.md5(data).hexdigest()
    assert hdr(head, "x-cos-meta-sha1") == hashlib.sha1(data).hexdigest()
    assert hdr(head, "x-cos-meta-sha256") == hashlib.sha256(data).hexdigest()
    assert hdr(head, "x-cos-meta-keep") == "1"


# --- rights ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def public_bucket(make_client):
    name = f"public{uuid.uuid4().hex[:8]}-1250000000"
    c = make_client("proxy", "ap-chongqing")
    c.create_bucket(Bucket=name, ACL="public-read")
    return name


def test_anonymous_filehash_cannot_write_metadata(make_client, raw, public_bucket):
    c = make_client("proxy", "ap-chongqing")
    key = "owned.txt"
    c.put_object(Bucket=public_bucket, Key=key, Body=b"owner data",
                 Metadata={"x-cos-meta-sha256": "owner-set"})
    host = f"{public_bucket}.cos.ap-chongqing.myqcloud.com"
    # Reading the hash anonymously is a read.
    r = raw("GET", f"http://{host}/{key}?ci-process=filehash&type=sha256")
    assert r.status == 200, r
    r = raw("GET", f"http://{host}/{key}?ci-process=filehash&type=sha256&addtoheader=true")
    assert r.status == 403 and r.error()["Code"] == "AccessDenied", r
    assert hdr(c.head_object(Bucket=public_bucket, Key=key), "x-cos-meta-sha256") == "owner-set"


def test_a_presigned_get_cannot_be_turned_into_a_metadata_write(proxy_client, raw, bucket, prefix):
    key = prefix + "presigned.txt"
    proxy_client.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"x-cos-meta-md5": "mine"})
    url = proxy_client.get_presigned_download_url(Bucket=bucket, Key=key, Expired=300)
    r = raw("GET", url + "&ci-process=filehash&type=md5&addtoheader=true")
    assert r.status == 403 and r.error()["Code"] == "AccessDenied", r
    assert hdr(proxy_client.head_object(Bucket=bucket, Key=key), "x-cos-meta-md5") == "mine"
    # Signed for exactly that, it works.
    params = {"ci-process": "filehash", "type": "md5", "addtoheader": "true"}
    url = proxy_client.get_presigned_url(Bucket=bucket, Key=key, Method="GET", Params=params)
    assert raw("GET", url).status == 200
    assert hdr(proxy_client.head_object(Bucket=bucket, Key=key), "x-cos-meta-md5") == md5(b"x")


def test_response_overrides_need_a_signature_and_nosniff_is_sent(make_client, raw, public_bucket):
    c = make_client("proxy", "ap-chongqing")
    c.put_object(Bucket=public_bucket, Key="page.txt", Body=b"<script>alert(1)</script>",
                 ContentType="text/plain")
    host = f"{public_bucket}.cos.ap-chongqing.myqcloud.com"
    r = raw("GET", f"http://{host}/page.txt?response-content-type=text/html")
    assert r.status == 403, r
    r = raw("GET", f"http://{host}/page.txt")
    assert r.status == 200 and r.header("Content-Type") == "text/plain"
    assert r.header("X-Content-Type-Options") == "nosniff"
    url = c.get_presigned_url(Bucket=public_bucket, Key="page.txt", Method="GET",
                              Params={"response-content-type": "application/octet-stream"})
    r = raw("GET", url)
    assert r.status == 200 and r.header("Content-Type") == "application/octet-stream"


# --- keys and metadata ---------------------------------------------------------------------------


def test_a_key_with_a_control_character_is_refused_and_listings_stay_xml(proxy_client, bucket, prefix):
    e = refused(lambda: proxy_client.put_object(Bucket=bucket, Key=prefix + "ctl\x01key", Body=b"x"))
    assert e.get_status_code() == 400 and e.get_error_code() == "InvalidArgument", e
    # Tab, line feed and carriage return are text XML carries.
    for odd in ("tab\tkey", "cr\rkey", "lf\nkey"):
        proxy_client.put_object(Bucket=bucket, Key=prefix + odd, Body=b"x")
    listed = proxy_client.list_objects(Bucket=bucket, Prefix=prefix)
    keys = sorted(c["Key"] for c in listed["Contents"])
    assert keys == sorted(prefix + k for k in ("tab\tkey", "cr\rkey", "lf\nkey")), keys


def test_user_metadata_over_2kb_is_refused(proxy_client, bucket, prefix):
    e = refused(lambda: proxy_client.put_object(
        Bucket=bucket, Key=prefix + "big-meta", Body=b"x",
        Metadata={"x-cos-meta-a": "v" * 2100}))
    assert e.get_status_code() == 400 and e.get_error_code() == "MetadataTooLarge", e
    proxy_client.put_object(Bucket=bucket, Key=prefix + "ok-meta", Body=b"x",
                            Metadata={"x-cos-meta-a": "v" * 1000})


# --- forged verdicts ------------------------------------------------------------------------------


def test_a_forged_hash_key_does_not_clean_a_malicious_file(server, file_server):
    client = make_client(server)
    harmless = b"nothing to see here " + uuid.uuid4().bytes
    # A real EICAR result exists …
    upload_and_detect(client, EICAR)
    assert result_of(client, md5(EICAR)).result == 1
    # … and an attacker names a harmless file by EICAR's MD5 and SHA-256.
    for key in (md5(EICAR), sha256(EICAR)):
        url = file_server.url(f"/files/forged-{key[:8]}.txt", harmless)
        client.create_file_detect(sas.CreateFileDetectRequest(hash_key=key, download_url=url, type=0))
    # A download that fails, under EICAR's hash.
    client.create_file_detect(sas.CreateFileDetectRequest(
        hash_key=md5(EICAR), download_url=f"http://127.0.0.1:{file_server.port}/no/such", type=0))
    time.sleep(1.0)  # let the forged detections run
    for key in (md5(EICAR), sha256(EICAR)):
        item = result_of(client, key)
        assert item.result == 1 and item.virus_type == "Engtest", item
    # The harmless file's own hash has no result: its detections failed.
    with pytest.raises(Exception) as info:
        client.get_file_detect_result(
            sas.GetFileDetectResultRequest(hash_key_list=[md5(harmless)], type=0))
    assert getattr(info.value, "code", None) == "GetResultFail"


def test_a_mismatched_hash_key_fails_its_own_detection(server, file_server):
    client = make_client(server)
    data = b"some file " + uuid.uuid4().bytes
    claimed = md5(b"another file " + uuid.uuid4().bytes)
    url = file_server.url("/files/mismatch.txt", data)
    client.create_file_detect(sas.CreateFileDetectRequest(hash_key=claimed, download_url=url, type=0))
    deadline = time.time() + 30
    while True:
        try:
            item = client.get_file_detect_result(
                sas.GetFileDetectResultRequest(hash_key_list=[claimed], type=0)).body.result_list[0]
            assert item.result == 3, item  # detecting, never a verdict
        except Exception as e:  # noqa: BLE001
            assert getattr(e, "code", None) == "GetResultFail", e
            assert "do not match the HashKey" in str(e), e
            break
        assert time.time() < deadline
        time.sleep(0.05)
