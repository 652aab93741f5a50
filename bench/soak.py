"""The soak driver of bench/soak.sh: mixed load through the official SDKs, RSS sampling, and
the pass/fail checks. Run by bench/soak.sh, which starts the server."""

import argparse
import hashlib
import io
import os
import random
import threading
import time
import uuid
import zipfile

import requests
from alibabacloud_sas20181203 import models as sas
from alibabacloud_sas20181203.client import Client as SasClient
from alibabacloud_tea_openapi import models as open_api_models
from qcloud_cos import CosConfig, CosS3Client

BUCKET = "default-1250000000"
REGION = "ap-guangzhou"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = {}
        self.server_errors = []
        self.jobs = []  # job ids submitted
        self.detections = []  # md5 of detected uploads

    def count(self, op):
        with self.lock:
            self.ops[op] = self.ops.get(op, 0) + 1

    def error(self, op, e):
        status = getattr(e, "get_status_code", lambda: None)() or getattr(e, "statusCode", None)
        with self.lock:
            if status is None or int(status) >= 500:
                self.server_errors.append(f"{op}: {status} {str(e)[:200]}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nested_zip(depth, payload):
    data = payload
    for level in range(depth):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"level{level}.bin" if level else "inner.txt", data)
        data = buf.getvalue()
    return data


def cos_client(port, ak, sk):
    conf = CosConfig(Region=REGION, SecretId=ak, SecretKey=sk, Scheme="http",
                     Proxies={"http": f"http://127.0.0.1:{port}"})
    s = requests.Session()
    s.trust_env = False
    return CosS3Client(conf, retry=0, session=s)


def sas_client(port, ak, sk):
    cfg = open_api_models.Config(access_key_id=ak, access_key_secret=sk,
                                 endpoint=f"127.0.0.1:{port}", protocol="http")
    return SasClient(cfg)


def upload_and_detect(client, data):
    key = hashlib.md5(data).hexdigest()
    urls = client.create_file_detect_upload_url(sas.CreateFileDetectUploadUrlRequest(
        hash_key_context_list=[sas.CreateFileDetectUploadUrlRequestHashKeyContextList(
            hash_key=key, file_size=len(data))], type=0)).body.upload_url_list
    ctx = urls[0].context
    if not urls[0].file_exist:
        r = requests.post(urls[0].public_url, data={
            "key": ctx.oss_key, "policy": ctx.policy, "OSSAccessKeyId": ctx.access_id,
            "success_action_status": "200", "Signature": ctx.signature}, files={"file": data})
        if r.status_code >= 500:
            raise RuntimeError(f"form upload {r.status_code}")
    client.create_file_detect(sas.CreateFileDetectRequest(
        hash_key=key, oss_key=ctx.oss_key, type=0, decompress=True))
    return key


def worker(n, args, stats, stop):
    cos = cos_client(args.port, args.ak, args.sk)
    ali = sas_client(args.port, args.ak, args.sk)
    rnd = random.Random(n)
    big = os.urandom(8 << 20)
    keys = []
    while not stop.is_set():
        op = rnd.choice(["put", "put", "put_big", "job", "detect", "lookup", "list", "sync_hash"])
        try:
            if op == "put":
                key = f"soak/{n}/{uuid.uuid4().hex}.bin"
                cos.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(rnd.randint(1, 256 << 10)))
                keys.append(key)
                if len(keys) > 200:  # keep the bucket from growing without end
                    cos.delete_object(Bucket=BUCKET, Key=keys.pop(0))
            elif op == "put_big":
                cos.put_object(Bucket=BUCKET, Key=f"soak/{n}/big.bin", Body=big)
            elif op == "job" and keys:
                t = rnd.choice(["MD5", "SHA1", "SHA256"])
                job = cos.ci_create_file_hash_job(
                    Bucket=BUCKET, InputObject=rnd.choice(keys),
                    FileHashCodeConfig={"Type": t, "AddToHeader": "true"})
                with stats.lock:
                    stats.jobs.append(job["JobsDetail"]["JobId"])
            elif op == "detect":
                payload = os.urandom(64) + b"\0" * rnd.randint(1 << 20, 32 << 20)
                data = nested_zip(rnd.randint(1, 4), payload)
                key = upload_and_detect(ali, data)
                with stats.lock:
                    stats.detections.append(key)
            elif op == "lookup":
                with stats.lock:
                    known = list(stats.detections[-100:])
                if known:
                    try:
                        ali.get_file_detect_result(
                            sas.GetFileDetectResultRequest(hash_key_list=known, type=0))
                    except Exception as e:  # noqa: BLE001 - GetResultFail while detecting is fine
                        if getattr(e, "code", None) != "GetResultFail":
                            raise
            elif op == "list":
                cos.list_objects(Bucket=BUCKET, Prefix=f"soak/{n}/", MaxKeys=100)
            elif op == "sync_hash" and keys:
                cos.file_hash(Bucket=BUCKET, Key=rnd.choice(keys), Type="sha256", AddToHeader=True)
            stats.count(op)
        except Exception as e:  # noqa: BLE001 - counted by status
            stats.error(op, e)


def wait_all(args, stats, timeout=600):
    cos = cos_client(args.port, args.ak, args.sk)
    ali = sas_client(args.port, args.ak, args.sk)
    deadline = time.time() + timeout
    unfinished = list(stats.jobs)
    failed = []
    while unfinished and time.time() < deadline:
        batch, unfinished = unfinished[:10], unfinished[10:]  # COS: at most 10 ids a query
        detail = cos.ci_get_file_process_jobs(Bucket=BUCKET, JobIDs=",".join(batch))["JobsDetail"]
        if isinstance(detail, dict):
            detail = [detail]
        for d in detail:
            if d["State"] in ("Submitted", "Running"):
                unfinished.append(d["JobId"])
            elif d["State"] != "Success":
                # An object deleted by its writer before its job ran is the client's doing.
                if d.get("Code") != "ResourceNotFound":
                    failed.append((d["JobId"], d["State"], d.get("Code"), d.get("Message")))
        if unfinished:
            time.sleep(0.2)
    pending = list(stats.detections)
    undecided = []
    while pending and time.time() < deadline:
        key = pending.pop()
        try:
            item = ali.get_file_detect_result(
                sas.GetFileDetectResultRequest(hash_key_list=[key], type=0)).body.result_list[0]
            if item.result == 3:
                pending.insert(0, key)
                time.sleep(0.05)
        except Exception as e:  # noqa: BLE001
            undecided.append((key, str(e)[:200]))
    return unfinished, failed, pending, undecided


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--ak", required=True)
    p.add_argument("--sk", required=True)
    p.add_argument("--duration", type=int, default=600)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--server-log", required=True)
    args = p.parse_args()

    stats, stop = Stats(), threading.Event()
    threads = [threading.Thread(target=worker, args=(i, args, stats, stop), daemon=True)
               for i in range(args.clients)]
    for t in threads:
        t.start()
    samples = []
    start = time.time()
    while time.time() - start < args.duration:
        time.sleep(10)
        samples.append((int(time.time() - start), rss_kib(args.pid)))
        print(f"t={samples[-1][0]:4d}s rss={samples[-1][1] // 1024:5d} MiB ops={sum(stats.ops.values())}",
              flush=True)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    unfinished, failed, pending, undecided = wait_all(args, stats)

    after = [s for s in samples if s[0] >= args.warmup] or samples
    base, last, peak = after[0][1], after[-1][1], max(s[1] for s in samples)
    with open(args.server_log, errors="replace") as f:
        panics = [line for line in f if "panicked" in line]
    print()
    print(f"operations: {dict(sorted(stats.ops.items()))}")
    print(f"hash jobs: {len(stats.jobs)} submitted, {len(unfinished)} unfinished, {len(failed)} failed")
    print(f"detections: {len(stats.detections)} submitted, {len(pending)} undecided, "
          f"{len(undecided)} without a result")
    print(f"RSS after warm-up: first {base // 1024} MiB, last {last // 1024} MiB, "
          f"peak {peak // 1024} MiB")
    print(f"5xx answers: {len(stats.server_errors)}; panics in the log: {len(panics)}")
    problems = []
    if last > base + 64 * 1024:
        problems.append("RSS grew after warm-up")
    if stats.server_errors:
        problems.append("5xx answers: " + "; ".join(stats.server_errors[:5]))
    if panics:
        problems.append("panics: " + panics[0].strip())
    if unfinished or failed:
        problems.append(f"jobs not finished or failed: {(unfinished + failed)[:5]}")
    if pending or undecided:
        problems.append(f"detections without a verdict: {(pending + undecided)[:5]}")
    print("PASS" if not problems else "FAIL: " + " | ".join(problems))
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
