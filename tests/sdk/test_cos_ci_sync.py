"""The synchronous file hash of Cloud Infinite (cos-ci.md §2.1) through the official SDK:
client.file_hash(Bucket, Key, Type, AddToHeader), checked against hashlib of the same bytes."""

import hashlib
import os

import pytest
from qcloud_cos.cos_exception import CosServiceError

from cosutil import SDK_BUCKET, SDK_REGION

TYPES = [("md5", "MD5", hashlib.md5), ("sha1", "SHA1", hashlib.sha1), ("sha256", "SHA256", hashlib.sha256)]


@pytest.mark.parametrize("type_, element, fn", TYPES)
def test_file_hash_matches_hashlib_and_writes_the_header_only_when_asked(client, prefix, type_, element, fn):
    data = os.urandom(300_000)
    key = prefix + "hash me.bin"
    put = client.put_object(Bucket=SDK_BUCKET, Key=key, Body=data)
    result = client.file_hash(Bucket=SDK_BUCKET, Key=key, Type=type_)
    want = fn(data).hexdigest()
    assert result["FileHashCodeResult"][element] == want
    assert result["FileHashCodeResult"]["FileSize"] == str(len(data))
    assert result["FileHashCodeResult"]["Etag"] == put["ETag"]
    assert result["Input"] == {"Bucket": SDK_BUCKET, "Object": key, "Region": SDK_REGION}
    head = client.head_object(Bucket=SDK_BUCKET, Key=key)
    assert f"x-cos-meta-{type_}" not in head

    client.file_hash(Bucket=SDK_BUCKET, Key=key, Type=type_.upper(), AddToHeader=True)
    head2 = client.head_object(Bucket=SDK_BUCKET, Key=key)
    assert head2[f"x-cos-meta-{type_}"] == want
    # Only metadata changed: same content, same ETag and Last-Modified.
    assert head2["ETag"] == put["ETag"]
    assert head2["Last-Modified"] == head["Last-Modified"]
    assert client.get_object(Bucket=SDK_BUCKET, Key=key)["Body"].get_raw_stream().read() == data


def test_file_hash_errors(client, prefix):
    key = prefix + "x"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"x")
    with pytest.raises(CosServiceError) as e:
        client.file_hash(Bucket=SDK_BUCKET, Key=key, Type="sha512")
    assert (e.value.get_status_code(), e.value.get_error_code()) == (400, "InvalidArgument")
    with pytest.raises(CosServiceError) as e:
        client.file_hash(Bucket=SDK_BUCKET, Key=prefix + "missing", Type="md5")
    assert (e.value.get_status_code(), e.value.get_error_code()) == (404, "NoSuchKey")


def test_file_hash_refuses_objects_of_128_mb_and_more(proxy_client, prefix, big_file):
    key = prefix + "big.bin"
    with open(big_file.path, "rb") as f:
        proxy_client.put_object(Bucket=SDK_BUCKET, Key=key, Body=f)
    with pytest.raises(CosServiceError) as e:
        proxy_client.file_hash(Bucket=SDK_BUCKET, Key=key, Type="md5")
    assert (e.value.get_status_code(), e.value.get_error_code()) == (400, "InvalidArgument")
    assert "/file_jobs" in e.value.get_error_msg()
