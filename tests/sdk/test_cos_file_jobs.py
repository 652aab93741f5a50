"""COS Cloud Infinite file-hash jobs through the official SDK (cos-ci.md §2.2, §2.3):
ci_create_file_hash_job and ci_get_file_process_jobs, every digest checked against hashlib
of the same bytes, AddToHeader checked through head_object."""

import hashlib
import os
import re
import time

import pytest
from qcloud_cos.cos_exception import CosServiceError

from cosutil import SDK_BUCKET, SDK_REGION

HASHES = {"MD5": hashlib.md5, "SHA1": hashlib.sha1, "SHA256": hashlib.sha256}


def wait_for(client, job_id, timeout=60):
    deadline = time.time() + timeout
    while True:
        detail = client.ci_get_file_process_jobs(Bucket=SDK_BUCKET, JobIDs=job_id)["JobsDetail"][0]
        if detail["State"] in ("Success", "Failed", "Cancel"):
            return detail
        assert time.time() < deadline, f"job {job_id} still {detail['State']}"
        time.sleep(0.1)


@pytest.mark.parametrize("type_", ["MD5", "SHA1", "SHA256", "sha256"])
@pytest.mark.parametrize("add_to_header", ["true", "false"])
def test_hash_job_digest_matches_hashlib(client, prefix, type_, add_to_header):
    data = os.urandom(1_500_000)
    key = prefix + "目录/job input.bin"
    put = client.put_object(Bucket=SDK_BUCKET, Key=key, Body=data)
    resp = client.ci_create_file_hash_job(
        Bucket=SDK_BUCKET,
        InputObject=key,
        FileHashCodeConfig={"Type": type_, "AddToHeader": add_to_header},
        UserData="my data",
    )
    d = resp["JobsDetail"]
    assert re.fullmatch(r"f[0-9a-f]{32}", d["JobId"])
    assert re.fullmatch(r"p[0-9a-f]{32}", d["QueueId"])
    assert (d["State"], d["Tag"], d["Code"]) == ("Submitted", "FileHashCode", "Success")
    assert (d["StartTime"], d["EndTime"]) == ("-", "-")
    assert d["Input"] == {"BucketId": SDK_BUCKET, "Object": key, "Region": SDK_REGION}
    assert d["Operation"]["FileHashCodeConfig"] == {"Type": type_.upper(), "AddToHeader": add_to_header}
    assert d["Operation"]["UserData"] == "my data"

    done = wait_for(client, d["JobId"])
    assert done["State"] == "Success", done
    result = done["Operation"]["FileHashCodeResult"]
    want = HASHES[type_.upper()](data).hexdigest()
    assert result[type_.upper()] == want
    assert result["FileSize"] == str(len(data))
    assert result["Etag"] == put["ETag"]
    assert done["Progress"] == "100"
    head = client.head_object(Bucket=SDK_BUCKET, Key=key)
    header = "x-cos-meta-" + type_.lower()
    if add_to_header == "true":
        assert head[header] == want
        assert head["ETag"] == put["ETag"]
    else:
        assert header not in head


def test_query_several_ids_and_an_unknown_one(client, prefix):
    key = prefix + "a"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"abc")
    ids = [
        client.ci_create_file_hash_job(Bucket=SDK_BUCKET, InputObject=key, FileHashCodeConfig={"Type": t})[
            "JobsDetail"
        ]["JobId"]
        for t in ("MD5", "SHA1")
    ]
    for i in ids:
        wait_for(client, i)
    unknown = "f" + "0" * 32
    resp = client.ci_get_file_process_jobs(Bucket=SDK_BUCKET, JobIDs=",".join(ids + [unknown]))
    got = {j["JobId"]: j for j in resp["JobsDetail"]}
    assert set(got) == set(ids)
    assert got[ids[0]]["Operation"]["FileHashCodeResult"]["MD5"] == hashlib.md5(b"abc").hexdigest()
    assert got[ids[1]]["Operation"]["FileHashCodeResult"]["SHA1"] == hashlib.sha1(b"abc").hexdigest()
    assert resp["NonExistJobIds"] == unknown


@pytest.mark.parametrize(
    "kwargs, status, code",
    [
        ({"InputObject": "no/such/object", "FileHashCodeConfig": {"Type": "MD5"}}, 400, "ResourceNotFound"),
        ({"FileHashCodeConfig": {"Type": "SHA512"}}, 400, "InvalidArgument"),
        ({"FileHashCodeConfig": {"Type": "MD5", "AddToHeader": "yes"}}, 400, "InvalidArgument"),
        ({"FileHashCodeConfig": {"Type": "MD5"}, "CallBackType": "TDMQ"}, 400, "InvalidArgument"),
        ({"FileHashCodeConfig": {"Type": "MD5"}, "QueueId": "p" + "1" * 32}, 400, "InvalidArgument"),
        ({"FileHashCodeConfig": {"Type": "MD5"}, "UserData": "x" * 1025}, 400, "InvalidArgument"),
    ],
)
def test_submit_errors(client, prefix, kwargs, status, code):
    key = prefix + "exists"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"x")
    kwargs = {"InputObject": key, **kwargs}
    with pytest.raises(CosServiceError) as e:
        client.ci_create_file_hash_job(Bucket=SDK_BUCKET, **kwargs)
    assert (e.value.get_status_code(), e.value.get_error_code()) == (status, code)
    assert e.value.get_error_msg()


def test_list_jobs_filters_by_input_object(proxy_client, raw, prefix):
    """`GET /jobs?inputObject=` (the Go and PHP SDKs send it): an exact key, with or without
    the leading `/`."""
    import xml.etree.ElementTree as ET

    keys = [prefix + "in/a.bin", prefix + "in/a.bin2"]
    ids = {}
    for k in keys:
        proxy_client.put_object(Bucket=SDK_BUCKET, Key=k, Body=k.encode())
        ids[k] = [proxy_client.ci_create_file_hash_job(
            Bucket=SDK_BUCKET, InputObject=k, FileHashCodeConfig={"Type": "MD5"})["JobsDetail"]["JobId"]
            for _ in range(2)]
    for given in (keys[0], "/" + keys[0]):
        url = proxy_client.get_presigned_url(
            Bucket=SDK_BUCKET, Key="jobs", Method="GET", Expired=300,
            Params={"tag": "FileHashCode", "inputObject": given, "size": "100"})
        r = raw("GET", url)
        assert r.status == 200, r
        assert r.header("x-ci-request-id"), "CI answers carry x-ci-request-id"
        assert r.header("server") == "tencent-ci"
        doc = ET.fromstring(r.body)
        found = [(d.findtext("JobId"), d.findtext("Input/Object")) for d in doc.findall("JobsDetail")]
        assert sorted(found) == sorted((i, keys[0]) for i in ids[keys[0]]), found


def test_post_jobs_with_the_file_hash_tag_is_a_hash_job(client, prefix):
    """The COS mini-program demo submits FileHashCode jobs to `/jobs`, with empty elements for
    what it leaves at the default."""
    data = os.urandom(10_000)
    key = prefix + "via-jobs.bin"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=data)
    resp = client.ci_create_media_jobs(
        Bucket=SDK_BUCKET,
        Jobs={"Tag": "FileHashCode", "Input": {"Object": key},
              "Operation": {"FileHashCodeConfig": {"Type": "SHA1", "AddToHeader": ""}, "UserData": ""},
              "CallBackFormat": "", "CallBackType": "Url", "CallBack": ""},
        Lst={}, ContentType="application/xml",
    )
    detail = resp["JobsDetail"][0]  # the SDK makes a list of it
    assert detail["Tag"] == "FileHashCode" and detail["State"] == "Submitted", detail
    done = wait_for(client, detail["JobId"])
    assert done["Operation"]["FileHashCodeResult"]["SHA1"] == hashlib.sha1(data).hexdigest()
    # Another tag on /jobs is refused: hashscan runs hash jobs only.
    with pytest.raises(CosServiceError) as e:
        client.ci_create_media_jobs(
            Bucket=SDK_BUCKET, Jobs={"Tag": "Transcode", "Input": {"Object": key}}, Lst={},
            ContentType="application/xml")
    assert e.value.get_status_code() == 400
