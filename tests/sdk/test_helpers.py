"""Unit tests of the suite's own helpers (cosutil.py); these need no server."""

import os

import pytest

from cosutil import (
    CRC64_CHECK,
    crc64_is_fast,
    crc64_xz,
    crc64_xz_py,
    etag_of,
    hdr,
    has_hdr,
    parse_error_xml,
    with_signature_changed,
)


@pytest.mark.parametrize("crc", [crc64_xz_py, crc64_xz], ids=["python", "selected"])
def test_crc64_xz_check_value(crc):
    assert crc(b"123456789") == CRC64_CHECK == 0x995DC9BBDF1939FA
    assert crc(b"") == 0


@pytest.mark.parametrize("crc", [crc64_xz_py, crc64_xz], ids=["python", "selected"])
def test_crc64_xz_chains(crc):
    data = os.urandom(10_000)
    assert crc(data[3333:], crc(data[:3333])) == crc(data)


def test_crc64_agrees_with_crcmod():
    """crcmod (an SDK dependency, used by its download_file CRC check) is an independent
    implementation: compare on assorted lengths, whether or not its C extension was built."""
    import crcmod

    reference = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)
    for n in (1, 7, 8, 9, 255, 4096, 100_003):
        data = os.urandom(n)
        assert crc64_xz_py(data) == crc64_xz(data) == reference(data)


def test_crcmod_extension_present():
    """Not required for correctness, but the 200 MiB test takes ~1 min without it."""
    if not crc64_is_fast():
        pytest.skip("crcmod's C extension was not built; CRC-64 runs in pure Python (slow)")


def test_etag_of():
    assert etag_of(b"") == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_hdr_ignores_case():
    resp = {"etag": '"x"', "X-Cos-Request-Id": "r"}
    assert hdr(resp, "ETag") == '"x"'
    assert hdr(resp, "x-cos-request-id") == "r"
    assert not has_hdr(resp, "Content-Range")
    with pytest.raises(KeyError):
        hdr(resp, "Content-Range")


def test_with_signature_changed():
    url = "http://b.cos.r.myqcloud.com/k?q-ak=a&q-signature=abc1&x=y"
    assert with_signature_changed(url) == "http://b.cos.r.myqcloud.com/k?q-ak=a&q-signature=abc0&x=y"
    url = "http://b.cos.r.myqcloud.com/k?q-signature=ab0"
    assert with_signature_changed(url) == "http://b.cos.r.myqcloud.com/k?q-signature=ab1"


def test_parse_error_xml():
    body = (
        b"<?xml version='1.0' encoding='utf-8' ?>\n<Error><Code>NoSuchKey</Code>"
        b"<Message>m</Message><Resource>r</Resource><RequestId>i</RequestId><TraceId>t</TraceId></Error>"
    )
    assert parse_error_xml(body) == {
        "Code": "NoSuchKey",
        "Message": "m",
        "Resource": "r",
        "RequestId": "i",
        "TraceId": "t",
    }
