"""Job-finished callbacks (cos-ci.md §3) to a real HTTP receiver inside the test: XML and
JSON bodies, the job's CallBack and the queue's NotifyConfig, a receiver that is down for a
while, and de-duplication by the delivery id every attempt carries."""

import hashlib
import json
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cosutil import SDK_BUCKET


class Receiver:
    """Records POSTs; answers 503 (or drops the connection) while `down`."""

    def __init__(self):
        self.posts = []
        self.down = False
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.down:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cb"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def unique(self):
        """Posts de-duplicated by delivery id."""
        seen = {}
        for headers, body in self.posts:
            seen.setdefault(headers["x-hashscan-delivery-id"], (headers, body))
        return list(seen.values())

    def wait(self, n, timeout=30):
        deadline = time.time() + timeout
        while len(self.unique()) < n:
            assert time.time() < deadline, f"{len(self.unique())} of {n} callbacks arrived"
            time.sleep(0.05)
        return self.unique()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


def submit(client, key, **kwargs):
    return client.ci_create_file_hash_job(
        Bucket=SDK_BUCKET, InputObject=key, FileHashCodeConfig={"Type": "MD5"}, **kwargs
    )["JobsDetail"]["JobId"]


def test_xml_and_json_callbacks_carry_the_finished_job(client, prefix, receiver):
    key = prefix + "cb"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"callback me")
    md5 = hashlib.md5(b"callback me").hexdigest()
    xml_job = submit(client, key, CallBack=receiver.url, UserData="u1")
    json_job = submit(client, key, CallBack=receiver.url, CallBackFormat="JSON")
    posts = {h["x-hashscan-delivery-id"]: (h, b) for h, b in receiver.wait(2)}
    bodies = {h["content-type"]: b for h, b in posts.values()}

    root = ET.fromstring(bodies["application/xml"])
    assert root.tag == "Response" and root.findtext("EventName") == "TaskFinish"
    d = root.find("JobsDetail")
    assert (d.findtext("JobId"), d.findtext("State"), d.findtext("Code")) == (xml_job, "Success", "Success")
    assert d.findtext("Operation/FileHashCodeResult/MD5") == md5
    assert d.findtext("Operation/UserData") == "u1"
    assert d.findtext("Input/Object") == key

    doc = json.loads(bodies["application/json"])
    assert doc["EventName"] == "TaskFinish"
    assert isinstance(doc["JobsDetail"], list) and len(doc["JobsDetail"]) == 1
    j = doc["JobsDetail"][0]
    assert (j["JobId"], j["State"]) == (json_job, "Success")
    assert j["Operation"]["FileHashCodeResult"]["MD5"] == md5


def test_queue_notify_config_applies_when_the_job_names_no_callback(client, prefix, receiver):
    q = client.ci_get_media_queue(Bucket=SDK_BUCKET, UrlPath="/file_queue")["QueueList"]
    q = q[0] if isinstance(q, list) else q
    client.ci_update_media_queue(
        Bucket=SDK_BUCKET, QueueId=q["QueueId"], UrlPath="/file_queue/",
        Request={"NotifyConfig": {"State": "On", "Url": receiver.url, "ResultFormat": "JSON"}},
    )
    try:
        key = prefix + "q"
        client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"q")
        job = submit(client, key)
        (headers, body), = receiver.wait(1)
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["JobsDetail"][0]["JobId"] == job
        # `CallBack=no` silences the queue's callback for that job alone.
        silent = submit(client, key, CallBack="no")
        loud = submit(client, key)
        receiver.wait(2)
        time.sleep(1.0)  # the silent job finished before the loud one was delivered
        ids = [json.loads(b)["JobsDetail"][0]["JobId"] for _, b in receiver.unique()]
        assert ids == [job, loud], ids
        detail = client.ci_get_file_process_jobs(Bucket=SDK_BUCKET, JobIDs=silent)["JobsDetail"][0]
        assert detail["State"] == "Success"
    finally:
        client.ci_update_media_queue(
            Bucket=SDK_BUCKET, QueueId=q["QueueId"], UrlPath="/file_queue/",
            Request={"NotifyConfig": {"State": "Off"}},
        )


def test_a_receiver_down_for_a_while_gets_each_callback_once_after_dedup(client, prefix, receiver):
    key = prefix + "down"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"down")
    receiver.down = True
    jobs = [submit(client, key, CallBack=receiver.url) for _ in range(3)]
    deadline = time.time() + 20
    while receiver.refused < 6:  # every callback refused at least twice
        assert time.time() < deadline
        time.sleep(0.05)
    receiver.down = False
    posts = receiver.wait(3)
    ids = sorted(ET.fromstring(b).findtext("JobsDetail/JobId") for _, b in posts)
    assert ids == sorted(jobs)
    attempts = [int(h["x-hashscan-attempt"]) for h, _ in posts]
    assert all(a >= 3 for a in attempts), attempts
    time.sleep(1.5)
    assert len(receiver.unique()) == 3, "a delivered callback was sent again"
