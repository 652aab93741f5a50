"""The rest of the CI file-processing family through the official SDK: queues (describe,
pause, resume, rename), job listing and cancellation (cos-ci.md §2.4–§2.6)."""

import hashlib
import time

import pytest
from qcloud_cos.cos_exception import CosServiceError

from cosutil import SDK_BUCKET


def detail(client, job_id):
    return client.ci_get_file_process_jobs(Bucket=SDK_BUCKET, JobIDs=job_id)["JobsDetail"][0]


def wait_state(client, job_id, states, timeout=60):
    deadline = time.time() + timeout
    while True:
        d = detail(client, job_id)
        if d["State"] in states:
            return d
        assert time.time() < deadline, f"{job_id} still {d['State']}"
        time.sleep(0.1)


def queue_of(client):
    resp = client.ci_get_media_queue(Bucket=SDK_BUCKET, UrlPath="/file_queue")
    queues = resp["QueueList"]
    queues = queues if isinstance(queues, list) else [queues]
    return resp, queues[0]


def update(client, queue_id, **request):
    return client.ci_update_media_queue(Bucket=SDK_BUCKET, QueueId=queue_id, Request=request, UrlPath="/file_queue/")


@pytest.fixture
def queue(client):
    """The bucket's default queue; left Active whatever the test did."""
    _, q = queue_of(client)
    yield q
    update(client, q["QueueId"], State="Active", NotifyConfig={"State": "Off"})


def test_pause_holds_jobs_cancel_works_and_resume_releases_them(client, prefix, queue):
    resp, q = queue_of(client)
    assert resp["TotalCount"] == "1" and q["State"] == "Active" and q["QueueId"].startswith("p")
    key = prefix + "input"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"pause me")

    paused = update(client, q["QueueId"], Name="my-queue_1", State="Paused")
    # The SDK turns Queue into a list (format_dict).
    assert paused["Queue"][0]["State"] == "Paused" and paused["Queue"][0]["Name"] == "my-queue_1"
    ids = [
        client.ci_create_file_hash_job(Bucket=SDK_BUCKET, InputObject=key, FileHashCodeConfig={"Type": "SHA1"})[
            "JobsDetail"
        ]["JobId"]
        for _ in range(3)
    ]
    time.sleep(0.5)
    assert [detail(client, i)["State"] for i in ids] == ["Pause"] * 3

    client.ci_cancel_jobs(Bucket=SDK_BUCKET, JobID=ids[2])
    assert detail(client, ids[2])["State"] == "Cancel"
    with pytest.raises(CosServiceError) as e:
        client.ci_cancel_jobs(Bucket=SDK_BUCKET, JobID=ids[2])
    assert (e.value.get_status_code(), e.value.get_error_code()) == (400, "InvalidArgument")

    update(client, q["QueueId"], State="Active")
    for i in ids[:2]:
        d = wait_state(client, i, ("Success", "Failed"))
        assert d["State"] == "Success"
        assert d["Operation"]["FileHashCodeResult"]["SHA1"] == hashlib.sha1(b"pause me").hexdigest()
    assert detail(client, ids[2])["State"] == "Cancel"

    # A finished job cannot be cancelled either.
    with pytest.raises(CosServiceError) as e:
        client.ci_cancel_jobs(Bucket=SDK_BUCKET, JobID=ids[0])
    assert "Success" in e.value.get_error_msg()


def test_list_jobs_filters_and_pages(client, prefix, queue):
    key = prefix + "listed"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"list me")
    ids = [
        client.ci_create_file_hash_job(Bucket=SDK_BUCKET, InputObject=key, FileHashCodeConfig={"Type": "MD5"})[
            "JobsDetail"
        ]["JobId"]
        for _ in range(5)
    ]
    for i in ids:
        wait_state(client, i, ("Success",))
    seen, token = [], ""
    while True:
        resp = client.ci_list_media_jobs(
            Bucket=SDK_BUCKET, Tag="FileHashCode", QueueId=queue["QueueId"], States="Success",
            Size=2, NextToken=token, OrderByTime="Asc", Path="/jobs",
        )
        jobs = resp.get("JobsDetail") or []
        jobs = jobs if isinstance(jobs, list) else [jobs]
        assert len(jobs) <= 2
        seen += [j["JobId"] for j in jobs]
        token = resp.get("NextToken") or ""
        if not token:
            break
    # Oldest first, and ours are the newest five of the bucket's successful jobs.
    assert seen[-5:] == ids
    newest = client.ci_list_media_jobs(Bucket=SDK_BUCKET, Tag="FileHashCode", Size=1, Path="/jobs")
    newest = newest["JobsDetail"]
    newest = newest[0] if isinstance(newest, list) else newest
    assert newest["JobId"] == ids[-1]
    with pytest.raises(CosServiceError) as e:
        client.ci_list_media_jobs(Bucket=SDK_BUCKET, Tag="FileHashCode", Size=1000, Path="/jobs")
    assert (e.value.get_status_code(), e.value.get_error_code()) == (400, "InvalidArgument")


def test_queue_update_errors(client, queue):
    with pytest.raises(CosServiceError) as e:
        update(client, queue["QueueId"], State="Sleeping")
    assert (e.value.get_status_code(), e.value.get_error_code()) == (400, "InvalidArgument")
    with pytest.raises(CosServiceError) as e:
        update(client, "p" + "2" * 32, State="Paused")
    assert (e.value.get_status_code(), e.value.get_error_code()) == (400, "InvalidArgument")
    with pytest.raises(CosServiceError) as e:
        update(client, queue["QueueId"], NotifyConfig={"State": "On", "Type": "TDMQ"})
    assert e.value.get_error_code() == "InvalidArgument"
    # A NotifyConfig is stored and reported.
    done = update(client, queue["QueueId"], NotifyConfig={"State": "On", "Url": "http://127.0.0.1:9/cb", "ResultFormat": "JSON"})
    n = done["Queue"][0]["NotifyConfig"]
    assert (n["State"], n["Url"], n["ResultFormat"], n["Type"], n["Event"]) == ("On", "http://127.0.0.1:9/cb", "JSON", "Url", "TaskFinish")
