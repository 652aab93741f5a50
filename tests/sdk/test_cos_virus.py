"""COS Cloud Virus Detection through the official Python SDK: ci_auditing_virus_submit by
Object and by Url, ci_auditing_virus_query until the verdict, the callback of a finished
detection, and the errors. The verdicts come from the real detection engine (the EICAR test
file is a virus; random bytes are not)."""

import io
import os
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile

import pytest
from qcloud_cos.cos_exception import CosServiceError

from cosutil import SDK_BUCKET
from test_cos_callbacks import Receiver
from test_sas import EICAR


def finished(client, job_id, timeout=60):
    deadline = time.time() + timeout
    while True:
        detail = client.ci_auditing_virus_query(Bucket=SDK_BUCKET, JobID=job_id)["JobsDetail"]
        if detail["State"] in ("Success", "Failed"):
            return detail
        assert detail["State"] in ("Submitted", "Auditing"), detail
        assert time.time() < deadline, detail
        time.sleep(0.1)


def test_an_infected_object_is_blocked_with_its_virus_named(client, prefix):
    key = prefix + "病毒/eicar.com"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=EICAR)
    submitted = client.ci_auditing_virus_submit(Bucket=SDK_BUCKET, Key=key)
    job = submitted["JobsDetail"]
    assert job["JobId"].startswith("ss") and len(job["JobId"]) == 34, job
    assert job["State"] == "Submitted"
    assert job["Object"] == key
    assert submitted["RequestId"]
    done = finished(client, job["JobId"])
    assert (done["State"], done["Code"], done["Suggestion"]) == ("Success", "Success", "block"), done
    assert done["Object"] == key
    results = done["DetectDetail"][0]["Result"]
    assert results and all(r["FileName"] == key for r in results), results
    assert any("eicar" in r["VirusName"].lower() for r in results), results


def test_a_clean_object_is_normal(client, prefix):
    key = prefix + "clean.bin"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=os.urandom(4096))
    job = client.ci_auditing_virus_submit(Bucket=SDK_BUCKET, Key=key)["JobsDetail"]["JobId"]
    done = finished(client, job)
    assert (done["State"], done["Suggestion"]) == ("Success", "normal"), done
    assert done["DetectDetail"] == []


def test_an_infected_archive_member_is_named_by_its_path(client, prefix):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("docs/readme.txt", b"nothing to see")
        z.writestr("bin/tool.com", EICAR)
    key = prefix + "bundle.zip"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=buf.getvalue())
    job = client.ci_auditing_virus_submit(Bucket=SDK_BUCKET, Key=key)["JobsDetail"]["JobId"]
    done = finished(client, job)
    assert done["Suggestion"] == "block", done
    names = [r["FileName"] for r in done["DetectDetail"][0]["Result"]]
    assert "bin/tool.com" in names, names
    assert "docs/readme.txt" not in names


def test_a_url_is_fetched_and_scanned(client, file_server):
    url = file_server.url(f"/virus/{uuid.uuid4().hex}/eicar.txt", EICAR)
    job = client.ci_auditing_virus_submit(Bucket=SDK_BUCKET, Url=url)["JobsDetail"]
    assert job["Url"] == url
    done = finished(client, job["JobId"])
    assert done["Url"] == url and done["Suggestion"] == "block", done
    assert done["DetectDetail"][0]["Result"][0]["FileName"] == "eicar.txt"


def test_the_callback_carries_the_finished_detection(client, prefix):
    receiver = Receiver()
    try:
        key = prefix + "cb-eicar.com"
        client.put_object(Bucket=SDK_BUCKET, Key=key, Body=EICAR)
        job = client.ci_auditing_virus_submit(
            Bucket=SDK_BUCKET, Key=key, Callback=receiver.url)["JobsDetail"]["JobId"]
        (headers, body), = receiver.wait(1)
        assert headers["content-type"] == "application/xml"
        doc = ET.fromstring(body)
        assert doc.findtext("EventName") == "TaskFinish"
        assert doc.findtext("JobsDetail/JobId") == job
        assert doc.findtext("JobsDetail/State") == "Success"
        assert doc.findtext("JobsDetail/Suggestion") == "block"
        assert doc.findtext("JobsDetail/Object") == key
        assert doc.findtext("JobsDetail/DetectDetail/Result/FileName") == key
        assert doc.findtext("JobsDetail/DetectDetail/Result/VirusName")
    finally:
        receiver.httpd.shutdown()


def refused(call):
    with pytest.raises(CosServiceError) as info:
        call()
    return info.value.get_status_code(), info.value.get_error_code()


def test_errors(client, prefix, file_server):
    assert refused(lambda: client.ci_auditing_virus_query(
        Bucket=SDK_BUCKET, JobID="ss" + "0" * 32)) == (400, "InvalidArgument")
    # On the ci host any id is a job's; on the cos host (IP/port mode) a malformed one is an
    # object path, so that objects named virus/detect/... stay reachable.
    assert refused(lambda: client.ci_auditing_virus_query(
        Bucket=SDK_BUCKET, JobID="not-a-job")) in {(400, "InvalidArgument"), (404, "NoSuchKey")}
    assert refused(lambda: client.ci_auditing_virus_submit(
        Bucket=SDK_BUCKET, Key=prefix + "missing")) == (400, "ResourceNotFound")
    assert refused(lambda: client.ci_auditing_virus_submit(
        Bucket=SDK_BUCKET, Key=prefix + "x", Url="http://example.com/x")) == (400, "InvalidArgument")
    assert refused(lambda: client.ci_auditing_virus_submit(Bucket=SDK_BUCKET)) == (400, "InvalidArgument")
    assert refused(lambda: client.ci_auditing_virus_submit(
        Bucket=SDK_BUCKET, Url="file:///etc/passwd")) == (400, "InvalidArgument")
    key = prefix + "k"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"k")
    assert refused(lambda: client.ci_auditing_virus_submit(
        Bucket=SDK_BUCKET, Key=key, Callback="ftp://x/")) == (400, "InvalidArgument")
