"""COS requests for the benchmark scripts (bench/jobs.sh, bench/cluster.sh): the COS
signature (q-sign-algorithm=sha1, docs/api-cos.md), one keep-alive connection per thread and
server, hash jobs submitted and waited for.

    python3 bench/cos.py sign AK SK METHOD PATH    prints an Authorization header value
                                                   (for wrk), valid for an hour
"""
import hashlib
import hmac
import http.client
import re
import sys
import threading
import time
import urllib.parse

BUCKET = "default-1250000000"


def authorization(ak, sk, method, path):
    """The Authorization of a request with no signed headers or parameters."""
    now = int(time.time())
    kt = f"{now - 60};{now + 3600}"
    key = hmac.new(sk.encode(), kt.encode(), hashlib.sha1).hexdigest()
    http_string = method.lower() + "\n" + path + "\n\n\n"
    sts = "sha1\n" + kt + "\n" + hashlib.sha1(http_string.encode()).hexdigest() + "\n"
    sig = hmac.new(key.encode(), sts.encode(), hashlib.sha1).hexdigest()
    return (f"q-sign-algorithm=sha1&q-ak={ak}&q-sign-time={kt}&q-key-time={kt}"
            f"&q-header-list=&q-url-param-list=&q-signature={sig}")


class Cos:
    """Signed requests to the bucket BUCKET of one or more servers (base URLs)."""

    def __init__(self, ak, sk, bucket=BUCKET, timeout=600):
        self.ak, self.sk, self.bucket, self.timeout = ak, sk, bucket, timeout
        self.local = threading.local()

    def call(self, base, method, path, body=b""):
        """`path` under the bucket; answers the body of a 200 (anything else fails)."""
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        if base not in conns:
            u = urllib.parse.urlparse(base)
            conns[base] = http.client.HTTPConnection(u.hostname, u.port, timeout=self.timeout)
        p = f"/{self.bucket}{path}"
        headers = {"Authorization": authorization(self.ak, self.sk, method, p.split("?")[0])}
        conns[base].request(method, p, body=body, headers=headers)
        r = conns[base].getresponse()
        out = r.read()
        assert r.status == 200, (r.status, out[:300])
        return out.decode()

    def submit_hash_job(self, base, key):
        """A SHA-256 job (FileHashCode) on object `key`; answers its id."""
        body = ("<Request><Tag>FileHashCode</Tag><Input><Object>%s</Object></Input><Operation>"
                "<FileHashCodeConfig><Type>SHA256</Type></FileHashCodeConfig></Operation>"
                "</Request>" % key)
        answer = self.call(base, "POST", "/file_jobs", body.encode())
        return re.search(r"<JobId>(\w+)</JobId>", answer).group(1)

    def wait_success(self, base, ids, poll=0.05):
        """Until every job of `ids` is Success (asked 10 at a time); a Failed one fails."""
        pending = list(ids)
        while pending:
            chunk = pending[:10]
            text = self.call(base, "GET", "/file_jobs/" + ",".join(chunk))
            states = re.findall(r"<State>(\w+)</State>", text)
            assert "Failed" not in states, text[:500]
            done = [i for i, s in zip(chunk, states) if s == "Success"]
            pending = [i for i in pending if i not in done]
            if len(done) < len(chunk):
                time.sleep(poll)


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "sign":
        sys.exit("usage: cos.py sign AK SK METHOD PATH")
    print(authorization(*sys.argv[2:]))
