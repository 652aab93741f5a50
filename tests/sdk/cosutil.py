"""Helpers shared by the SDK conformance tests: CRC-64/XZ, raw HTTP, error-body parsing.

Plain functions only (no pytest fixtures here; those live in conftest.py).
"""

import collections
import hashlib
import http.client
import urllib.parse
import xml.etree.ElementTree as ET

# --- the test setup's constants --------------------------------------------------------------

ACCESS_KEY_ID = "AKIDhashscanTEST0000000000000000000"
SECRET_ACCESS_KEY = "hashscanSecretKeyForSdkTests0001"
assert len(SECRET_ACCESS_KEY) == 32

APPID = "1250000000"
DEFAULT_BUCKET = f"default-{APPID}"  # exists on a fresh data dir...
DEFAULT_REGION = "ap-guangzhou"  # ...in this region
SDK_BUCKET = f"sdktest-{APPID}"  # created by the tests (conftest's `bucket` fixture)...
SDK_REGION = "ap-chongqing"  # ...in this region

MODES = ("proxy", "ip")  # how the SDK reaches the server, see conftest.py

BigFile = collections.namedtuple("BigFile", "path size md5 crc64")

# --- CRC-64/XZ ---------------------------------------------------------------------------
# The value COS returns in `x-cos-hash-crc64ecma` (decimal): CRC-64/XZ, i.e. the ECMA-182
# polynomial 0x42F0E1EBA9EA3693 processed reflected (reversed polynomial 0xC96C5795D7870F42),
# init 0xFFFFFFFFFFFFFFFF, xorout 0xFFFFFFFFFFFFFFFF. Check value for b"123456789":
# 0x995DC9BBDF1939FA.

_MASK64 = 0xFFFFFFFFFFFFFFFF
_POLY_REFLECTED = 0xC96C5795D7870F42
CRC64_CHECK = 0x995DC9BBDF1939FA


def _make_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc64_xz_py(data, crc=0):
    """Pure-Python CRC-64/XZ. `crc` is a previous result, so that
    crc64_xz_py(b, crc64_xz_py(a)) == crc64_xz_py(a + b)."""
    table = _TABLE
    crc ^= _MASK64
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK64


def _fast_crc64():
    """crcmod's C extension (crcmod is a dependency of the SDK) when it was compiled at install
    time; None when crcmod fell back to pure Python (then it is no faster than ours)."""
    try:
        import crcmod
        import crcmod._crcfunext  # noqa: F401  (only present when the C extension was built)
    except ImportError:
        return None
    # crcmod's initCrc is the register's initial value XORed with xorOut: 0 here means an
    # all-ones register, as CRC-64/XZ wants. The SDK's resumable downloader uses this same call.
    return crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=_MASK64, rev=True)


_FAST = _fast_crc64()


def crc64_xz(data, crc=0):
    """CRC-64/XZ of `data`, continuing from `crc` (a previous result); C speed when available."""
    if _FAST is not None:
        return _FAST(bytes(data), crc)
    return crc64_xz_py(data, crc)


def crc64_is_fast():
    return _FAST is not None


# --- digests --------------------------------------------------------------------------------


def etag_of(data):
    """The ETag COS gives a single-PUT object: the quoted lower-case hex MD5."""
    return '"' + hashlib.md5(data).hexdigest() + '"'


# --- headers --------------------------------------------------------------------------------


def hdr(resp, name):
    """Header `name` from an SDK response dict, ignoring case (KeyError when absent).

    The SDK builds its response dicts with `dict(**requests_response.headers)`, so the dict's
    keys keep the case the server sent on the wire. Most tests look headers up through this
    helper so that they judge values; test_response_header_case judges the case."""
    if name in resp:
        return resp[name]
    lower = name.lower()
    for key, value in resp.items():
        if isinstance(key, str) and key.lower() == lower:
            return value
    raise KeyError(f"{name} not among response headers {sorted(k for k in resp if k != 'Body')}")


def has_hdr(resp, name):
    try:
        hdr(resp, name)
        return True
    except KeyError:
        return False


# --- raw HTTP ---------------------------------------------------------------------------------


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def error(self):
        """The <Error> body as a dict of its child elements' text."""
        return parse_error_xml(self.body)

    def __repr__(self):
        return f"RawResponse({self.status}, {dict(self.headers.items())!r}, {self.body[:500]!r})"


def raw_request(port, method, url, headers=None, body=None, on_response=None):
    """Send one request to the server at 127.0.0.1:`port` the way the SDK's IP/port mode does:
    origin-form request target (the URL's path and query, byte for byte, no normalisation)
    and a Host header equal to the URL's host[:port]."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    all_headers = {"Host": parts.netloc}
    all_headers.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, target, body=body, headers=all_headers)
        resp = conn.getresponse()
        data = resp.read()
        raw = RawResponse(resp.status, resp.headers, data)
    finally:
        conn.close()
    if on_response is not None:
        on_response(method, url, raw.status, raw.headers)
    return raw


def parse_error_xml(body):
    root = ET.fromstring(body)
    assert root.tag == "Error", f"error body root is <{root.tag}>, want <Error>: {body[:500]!r}"
    return {child.tag: (child.text or "") for child in root}


def with_signature_changed(url):
    """`url` with the last character of its q-signature value changed (hex digit flipped)."""
    marker = "q-signature="
    start = url.index(marker) + len(marker)
    end = url.find("&", start)
    if end == -1:
        end = len(url)
    last = url[end - 1]
    changed = "0" if last != "0" else "1"
    return url[: end - 1] + changed + url[end:]
