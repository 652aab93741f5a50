"""Fixtures for the COS SDK conformance tests.

One hashscan server per test session (`hashscan serve` on an ephemeral loopback port, fresh
data dir in a temporary directory), driven by the official cos-python-sdk-v5 in the two
modes that can reach a local server while keeping the bucket in the Host header
(shared/specs/cos-ci.md §6):

* proxy mode: `CosConfig(..., Scheme='http', Proxies={'http': 'http://127.0.0.1:PORT'})`;
  the server gets absolute-form request lines, `PUT http://<bucket>.cos.<region>.myqcloud.com/key`.
* IP/port mode: `CosConfig(..., Scheme='http', IP='127.0.0.1', Port=PORT)`; the server gets
  `PUT /key` with `Host: <bucket>.cos.<region>.myqcloud.com`.

Environment: HASHSCAN_BIN (server binary), HASHSCAN_SDK_KEEP=1 (keep the temporary dir).
HASHSCAN_SDK_SHARED=1 runs every server on the shared stores (PostgreSQL metadata and S3
bytes) that scripts/with-services started: a fresh database and bucket prefix per server.
On a failing test the server's stderr lines logged during that test are attached to the report.
"""

import hashlib
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
import requests
from qcloud_cos import CosConfig, CosS3Client

from cosutil import (
    ACCESS_KEY_ID,
    DEFAULT_REGION,
    MODES,
    SDK_BUCKET,
    SDK_REGION,
    SECRET_ACCESS_KEY,
    BigFile,
    crc64_xz,
    raw_request,
)

READY_TIMEOUT = 30  # seconds to wait for "listening on http://127.0.0.1:PORT"
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL
LISTENING = re.compile(r"^listening on https?://127\.0\.0\.1:(\d+)$")


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hashscan-target"
    )
    return os.path.join(target, "debug", "hashscan")


def shared_stores():
    """A fresh PostgreSQL database and S3 prefix on the services of scripts/with-services:
    (meta URL, blobs URL, AWS_* variables)."""
    admin = os.environ.get("HASHSCAN_TEST_POSTGRES")
    bucket = os.environ.get("HASHSCAN_TEST_S3")
    if not admin or not bucket:
        raise RuntimeError("HASHSCAN_SDK_SHARED=1 needs scripts/with-services (HASHSCAN_TEST_POSTGRES, HASHSCAN_TEST_S3)")
    name = "sdk" + uuid.uuid4().hex
    psql = Path(os.environ["HASHSCAN_PG_BIN"]) / "psql"
    subprocess.run([str(psql), "-X", "-q", "-d", admin, "-c", f"CREATE DATABASE {name}"], check=True)
    meta_url = admin.rsplit("/", 1)[0] + "/" + name
    aws = {
        "AWS_ENDPOINT_URL": os.environ["HASHSCAN_TEST_S3_ENDPOINT"],
        "AWS_ACCESS_KEY_ID": os.environ["HASHSCAN_TEST_S3_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["HASHSCAN_TEST_S3_SECRET"],
        "AWS_REGION": os.environ.get("HASHSCAN_TEST_S3_REGION", "garage"),
        "AWS_ALLOW_HTTP": "true",
    }
    return meta_url, f"{bucket}/{name}", aws


class Server:
    """A running `hashscan serve` child process."""

    def __init__(self, binary, root, allow_private=True, tls=None):
        self.binary = binary
        # (certificate chain, key) PEM paths: the port speaks https.
        self.tls = tls
        # Whether the URL fetcher may reach private and loopback addresses (the session's
        # server: yes, for the tests' callback receivers and file servers; `strict_server`: no).
        self.allow_private = allow_private
        self.root = Path(root)  # temporary dir holding data_dir and nothing else
        self.data_dir = self.root / "data"
        self.data_dir.mkdir()
        self.shared = shared_stores() if os.environ.get("HASHSCAN_SDK_SHARED") == "1" else None
        self.port = None
        self.proc = None
        self.stdout_lines = []
        self.stderr_lines = []
        self._ready = queue.Queue()

    def start(self):
        env = dict(os.environ)
        env["HASHSCAN_ACCESS_KEY_ID"] = ACCESS_KEY_ID
        env["HASHSCAN_SECRET_ACCESS_KEY"] = SECRET_ACCESS_KEY
        env.setdefault("RUST_LOG", "info")
        env.setdefault("RUST_BACKTRACE", "1")
        # Callback receivers of the tests listen on loopback, and retries must be quick.
        if self.allow_private:
            env["HASHSCAN_FETCH_ALLOW_PRIVATE"] = "1"
        else:
            env.pop("HASHSCAN_FETCH_ALLOW_PRIVATE", None)
        config = self.root / "hashscan.toml"
        text = "[callbacks]\ninitial_backoff_ms = 200\nmax_backoff_ms = 1000\ntimeout_ms = 2000\n"
        if self.tls:
            text += f'[http]\ntls_cert = "{self.tls[0]}"\ntls_key = "{self.tls[1]}"\n'
        config.write_text(text)
        argv = [self.binary, "serve", "--config", str(config), "--listen", "127.0.0.1:0",
                "--data-dir", str(self.data_dir)]
        if self.shared:
            meta_url, blobs_url, aws = self.shared
            argv += ["--meta-url", meta_url, "--blobs-url", blobs_url]
            env.update(aws)
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )
        # Drain both pipes for the whole life of the process so that neither ever fills.
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._readers:
            t.start()
        try:
            port = self._ready.get(timeout=READY_TIMEOUT)
            timed_out = False
        except queue.Empty:
            port, timed_out = None, True
        if port is None:
            if not timed_out:  # stdout closed: the process is exiting
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            exited = self.proc.poll() is not None
            self.stop()
            for t in self._readers:
                t.join(timeout=2)
            why = (
                f"exited with code {self.proc.returncode} before printing"
                if exited
                else f"did not print within {READY_TIMEOUT}s"
            )
            raise RuntimeError(
                f"hashscan {why} 'listening on http://127.0.0.1:PORT'.\n"
                f"argv: {' '.join(argv)}\n--- stdout:\n{''.join(self.stdout_lines)}"
                f"--- stderr (last 200 lines):\n{''.join(self.stderr_lines[-200:])}"
            )
        self.port = port

    def _read_stdout(self):
        announced = False
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.stdout_lines.append(line)
            if not announced:
                m = LISTENING.match(line.strip())
                if m:
                    announced = True
                    self._ready.put(int(m.group(1)))
        if not announced:
            self._ready.put(None)  # process closed stdout (exited) without announcing

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self.stderr_lines.append(raw.decode("utf-8", "replace"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_running_server = None  # for the failure-report hook below
_log_start = pytest.StashKey[int]()


class ResponseAudit:
    """Records every HTTP response the tests receive that lacks `x-cos-request-id`."""

    def __init__(self):
        self.missing = []

    def requests_hook(self, resp, *args, **kwargs):
        if "x-cos-request-id" not in resp.headers:
            self.missing.append(f"{resp.request.method} {resp.url} -> {resp.status_code}")

    def raw_hook(self, method, url, status, headers):
        if headers.get("x-cos-request-id") is None:
            self.missing.append(f"{method} {url} -> {status} (raw)")


_audit = ResponseAudit()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "beyond_contract: asserts COS behaviour the server contract does not spell out "
        "(deselect with -m 'not beyond_contract')",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_log_start] = len(_running_server.stderr_lines) if _running_server else 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    if call.excinfo is not None and _running_server is not None:
        lines = _running_server.stderr_lines[item.stash.get(_log_start, 0) :]
        if len(lines) > 300:
            lines = [f"... ({len(lines) - 300} earlier lines left out)\n"] + lines[-300:]
        text = "".join(lines) or "(nothing)\n"
        if not _running_server.alive():
            text += f"\n*** server is not running (exit code {_running_server.proc.returncode}) ***\n"
        item.add_report_section(call.when, "server stderr", text)
    yield


@pytest.fixture(scope="session")
def server():
    global _running_server
    binary = os.environ.get("HASHSCAN_BIN") or default_binary()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(
            f"hashscan binary not found: {binary}; build it with `cargo build -p hashscan` "
            f"or set HASHSCAN_BIN",
            pytrace=False,
        )
    root = tempfile.mkdtemp(prefix="hashscan-sdk-")
    srv = Server(binary, root)
    try:
        failure = None
        try:
            srv.start()
        except RuntimeError as e:
            failure = str(e)
        if failure:
            pytest.fail(failure, pytrace=False)
        _running_server = srv
        yield srv
    finally:
        srv.stop()
        _running_server = None
        if os.environ.get("HASHSCAN_SDK_KEEP") == "1":
            print(f"\nhashscan sdk tests: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def http_session():
    """The requests session every SDK client uses (CosS3Client's `session=` argument)."""
    s = requests.Session()
    s.trust_env = False  # never route loopback traffic through a proxy from the environment
    s.hooks["response"].append(_audit.requests_hook)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _request_ids_on_every_response():
    """Spec: every response, success or error, carries x-cos-request-id. Checked on every
    response of every test (SDK calls and raw requests alike)."""
    _audit.missing.clear()
    yield
    missing, _audit.missing[:] = list(_audit.missing), []
    if missing:
        pytest.fail("responses without an x-cos-request-id header:\n  " + "\n  ".join(missing))


@pytest.fixture(scope="session")
def make_client(server, http_session):
    """make_client(mode, region, secret_id=..., secret_key=..., timeout=...) -> CosS3Client"""

    def make(mode, region, secret_id=ACCESS_KEY_ID, secret_key=SECRET_ACCESS_KEY, timeout=None):
        if mode == "proxy":
            where = {"Proxies": {"http": f"http://127.0.0.1:{server.port}"}}
        elif mode == "ip":
            where = {"IP": "127.0.0.1", "Port": server.port}
        else:
            raise ValueError(mode)
        conf = CosConfig(
            Region=region,
            SecretId=secret_id,
            SecretKey=secret_key,
            Scheme="http",
            Timeout=timeout,
            **where,
        )
        return CosS3Client(conf, retry=0, session=http_session)

    return make


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture
def client(make_client, mode, bucket):
    """A client for the tests' own bucket (SDK_BUCKET, region SDK_REGION), in each mode."""
    return make_client(mode, SDK_REGION)


@pytest.fixture
def default_client(make_client, mode):
    """A client for the bucket a fresh data dir has (DEFAULT_BUCKET, region DEFAULT_REGION)."""
    return make_client(mode, DEFAULT_REGION)


@pytest.fixture
def proxy_client(make_client, bucket):
    """Proxy-mode client for SDK_BUCKET: the mode whose URLs carry the bucket host, which is
    what presigned URLs and signatures for raw requests need."""
    return make_client("proxy", SDK_REGION)


@pytest.fixture(scope="session")
def bucket(make_client):
    """SDK_BUCKET, created once per session with create_bucket from a client in SDK_REGION."""
    make_client("proxy", SDK_REGION).create_bucket(Bucket=SDK_BUCKET)
    return SDK_BUCKET


@pytest.fixture
def prefix(request):
    """A key prefix unique to this test (and mode), so tests never see each other's objects."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-") + "/"


@pytest.fixture
def raw(server):
    """raw(method, url, headers=None, body=None) -> cosutil.RawResponse, sent to the server
    over a plain connection with the URL's host as Host header (see cosutil.raw_request)."""

    def send(method, url, headers=None, body=None):
        return raw_request(server.port, method, url, headers, body, on_response=_audit.raw_hook)

    return send


BIG_SIZE = 200 * 1024 * 1024


@pytest.fixture(scope="session")
def big_file(tmp_path_factory):
    """A 200 MiB file of random bytes, with its size, MD5 hex and CRC-64/XZ, made once."""
    path = tmp_path_factory.mktemp("big") / "body.bin"
    md5, crc, chunk_size = hashlib.md5(), 0, 1 << 20
    with open(path, "wb") as f:
        for _ in range(BIG_SIZE // chunk_size):
            chunk = os.urandom(chunk_size)
            f.write(chunk)
            md5.update(chunk)
            crc = crc64_xz(chunk, crc)
    yield BigFile(path, BIG_SIZE, md5.hexdigest(), crc)
    path.unlink()


# --- Volcengine nta (file detection) ----------------------------------------------------------


def _start_server(allow_private, tls=None, root=None):
    """A started Server in a fresh temporary dir, and that dir (for the caller to remove)."""
    binary = os.environ.get("HASHSCAN_BIN") or default_binary()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"hashscan binary not found: {binary}", pytrace=False)
    root = root or tempfile.mkdtemp(prefix="hashscan-sdk-strict-")
    srv = Server(binary, root, allow_private=allow_private, tls=tls)
    try:
        srv.start()
    except RuntimeError as e:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    return srv, root


@pytest.fixture(scope="session")
def strict_server():
    """A second server with the fetcher's default address policy: private and loopback
    addresses refused (HASHSCAN_FETCH_ALLOW_PRIVATE unset), for the SSRF tests."""
    srv, root = _start_server(allow_private=False)
    yield srv
    srv.stop()
    if os.environ.get("HASHSCAN_SDK_KEEP") == "1":
        print(f"\nhashscan sdk tests: kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def make_nta():
    """make_nta(server, ak=..., sk=..., region="cn-beijing", validate=True) -> NTAApi: the
    official volcenginesdk-nta client, configured as detection-apis.md §3.2 shows (host
    127.0.0.1:PORT, scheme http), on its own ApiClient (no process-wide default)."""
    import volcenginesdkcore
    import volcenginesdknta

    def make(srv, ak=ACCESS_KEY_ID, sk=SECRET_ACCESS_KEY, region="cn-beijing", validate=True):
        cfg = volcenginesdkcore.Configuration()
        cfg.ak, cfg.sk, cfg.region = ak, sk, region
        cfg.host = f"127.0.0.1:{srv.port}"
        cfg.scheme = "http"
        cfg.client_side_validation = validate
        cfg.read_timeout = 30
        return volcenginesdknta.NTAApi(volcenginesdkcore.ApiClient(cfg))

    return make


@pytest.fixture(scope="session")
def presign_client(server):
    """A COS client whose endpoint carries the server's port
    (`<bucket>.cos.<region>.myqcloud.com:PORT`), so that its presigned URLs name this server
    (a SignURL that the nta dialect reads from local storage). Reaches the server in proxy
    mode, so it can upload too."""
    conf = CosConfig(
        Region=SDK_REGION,
        SecretId=ACCESS_KEY_ID,
        SecretKey=SECRET_ACCESS_KEY,
        Scheme="http",
        Endpoint=f"cos.{SDK_REGION}.myqcloud.com:{server.port}",
        Proxies={"http": f"http://127.0.0.1:{server.port}"},
    )
    s = requests.Session()
    s.trust_env = False
    yield CosS3Client(conf, retry=0, session=s)
    s.close()


class FileServer:
    """A tiny HTTP server on loopback serving `files` (path -> bytes); 404 otherwise."""

    def __init__(self):
        import http.server

        files = self.files = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                body = files.get(self.path.split("?", 1)[0])
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path, body):
        """Serves `body` at `path` and returns its URL."""
        self.files[path] = body
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def file_server():
    fs = FileServer()
    yield fs
    fs.close()
