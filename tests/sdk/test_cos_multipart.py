"""COS multipart upload through the official Python SDK (cos-python-sdk-v5): upload_file and
upload_file_from_buffer (which switch to multipart above their part size), the low-level calls
(create_multipart_upload, upload_part, upload_part_copy, complete_multipart_upload,
abort_multipart_upload, list_parts, list_multipart_uploads), resuming an upload as upload_file
does, and the errors of a wrong completion. Every object is read back and compared with the
bytes sent; the ETag is COS's `md5(part MD5s)-N`, the CRC-64 the whole object's.
"""

import hashlib
import io
import os
import uuid

import pytest
from qcloud_cos.cos_exception import CosServiceError

from cosutil import SDK_BUCKET, crc64_xz, hdr

MIB = 1024 * 1024


def multipart_etag(data, part_size):
    """The ETag COS gives an object completed from parts of `part_size` bytes."""
    parts = [data[i:i + part_size] for i in range(0, len(data), part_size)]
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def read(client, key, bucket=SDK_BUCKET):
    return client.get_object(Bucket=bucket, Key=key)["Body"].get_raw_stream().read()


def refused(call):
    with pytest.raises(CosServiceError) as info:
        call()
    return info.value


def wait_for(client, job_id):
    import time

    deadline = time.time() + 60
    while True:
        d = client.ci_get_file_process_jobs(Bucket=SDK_BUCKET, JobIDs=job_id)["JobsDetail"][0]
        if d["State"] in ("Success", "Failed", "Cancel"):
            return d
        assert time.time() < deadline, d
        time.sleep(0.1)


def test_upload_file_goes_multipart_and_reads_back_whole(client, prefix, tmp_path):
    data = os.urandom(5 * MIB + 12345)
    path = tmp_path / "five.bin"
    path.write_bytes(data)
    key = prefix + "目录/multi part.bin"
    resp = client.upload_file(
        Bucket=SDK_BUCKET, Key=key, LocalFilePath=str(path), PartSize=1, MAXThread=3,
        ContentType="application/x-test", Metadata={"x-cos-meta-origin": "upload_file"},
    )
    assert resp["ETag"] == multipart_etag(data, MIB)
    assert hdr(resp, "x-cos-hash-crc64ecma") == str(crc64_xz(data))
    assert read(client, key) == data
    head = client.head_object(Bucket=SDK_BUCKET, Key=key)
    assert head["ETag"] == multipart_etag(data, MIB)
    assert head["Content-Length"] == str(len(data))
    assert head["Content-Type"] == "application/x-test"
    assert head["x-cos-meta-origin"] == "upload_file"
    assert hdr(head, "x-cos-hash-crc64ecma") == str(crc64_xz(data))
    # Ranges cross part boundaries like any other object's.
    part = client.get_object(Bucket=SDK_BUCKET, Key=key, Range=f"bytes={MIB - 5}-{MIB + 4}")
    assert part["Body"].get_raw_stream().read() == data[MIB - 5:MIB + 5]
    # The upload is gone once complete.
    assert "Upload" not in client.list_multipart_uploads(Bucket=SDK_BUCKET, Prefix=key)


def test_upload_file_from_buffer_goes_multipart(client, prefix):
    data = os.urandom(10 * MIB + 7)
    key = prefix + "buffer.bin"
    resp = client.upload_file_from_buffer(
        Bucket=SDK_BUCKET, Key=key, Body=io.BytesIO(data), PartSize=2, MAXThread=2)
    assert resp["ETag"] == multipart_etag(data, 2 * MIB)
    assert read(client, key) == data


def test_hash_jobs_and_filehash_on_a_multipart_object_match_hashlib(client, prefix, tmp_path):
    data = os.urandom(3 * MIB + 99)
    path = tmp_path / "hashed.bin"
    path.write_bytes(data)
    key = prefix + "hashed.bin"
    client.upload_file(Bucket=SDK_BUCKET, Key=key, LocalFilePath=str(path), PartSize=1)
    etag = multipart_etag(data, MIB)
    job = client.ci_create_file_hash_job(
        Bucket=SDK_BUCKET, InputObject=key,
        FileHashCodeConfig={"Type": "SHA256", "AddToHeader": "true"},
    )["JobsDetail"]
    done = wait_for(client, job["JobId"])
    assert done["State"] == "Success", done
    result = done["Operation"]["FileHashCodeResult"]
    assert result["SHA256"] == hashlib.sha256(data).hexdigest()
    assert result["FileSize"] == str(len(data))
    assert result["Etag"] == etag
    assert client.head_object(Bucket=SDK_BUCKET, Key=key)["x-cos-meta-sha256"] == result["SHA256"]
    sync = client.file_hash(Bucket=SDK_BUCKET, Key=key, Type="md5")
    assert sync["FileHashCodeResult"]["MD5"] == hashlib.md5(data).hexdigest()


def test_low_level_calls_list_and_abort(client, prefix):
    key = prefix + "low level.bin"
    up = client.create_multipart_upload(Bucket=SDK_BUCKET, Key=key)
    assert (up["Bucket"], up["Key"]) == (SDK_BUCKET, key)
    upload_id = up["UploadId"]
    first, second = os.urandom(MIB), b"tail bytes"
    r1 = client.upload_part(Bucket=SDK_BUCKET, Key=key, Body=first, PartNumber=1, UploadId=upload_id,
                            EnableMD5=True)
    assert r1["ETag"] == f'"{hashlib.md5(first).hexdigest()}"'
    assert hdr(r1, "x-cos-hash-crc64ecma") == str(crc64_xz(first))
    client.upload_part(Bucket=SDK_BUCKET, Key=key, Body=second, PartNumber=2, UploadId=upload_id)

    parts = client.list_parts(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id)
    assert parts["Key"] == key and parts["UploadId"] == upload_id
    assert parts["IsTruncated"] == "false"
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts["Part"]] == [
        ("1", f'"{hashlib.md5(first).hexdigest()}"', str(MIB)),
        ("2", f'"{hashlib.md5(second).hexdigest()}"', str(len(second))),
    ]
    page = client.list_parts(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id, MaxParts=1)
    assert [p["PartNumber"] for p in page["Part"]] == ["1"]
    assert (page["IsTruncated"], page["NextPartNumberMarker"]) == ("true", "1")
    rest = client.list_parts(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id, PartNumberMarker=1)
    assert [p["PartNumber"] for p in rest["Part"]] == ["2"]

    uploads = client.list_multipart_uploads(Bucket=SDK_BUCKET, Prefix=key)
    assert [(u["Key"], u["UploadId"]) for u in uploads["Upload"]] == [(key, upload_id)]

    # A part uploaded again replaces the first one.
    again = os.urandom(MIB)
    client.upload_part(Bucket=SDK_BUCKET, Key=key, Body=again, PartNumber=1, UploadId=upload_id)
    parts = client.list_parts(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id)["Part"]
    assert parts[0]["ETag"] == f'"{hashlib.md5(again).hexdigest()}"'

    client.abort_multipart_upload(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id)
    assert "Upload" not in client.list_multipart_uploads(Bucket=SDK_BUCKET, Prefix=key)
    for call in [
        lambda: client.upload_part(Bucket=SDK_BUCKET, Key=key, Body=b"x", PartNumber=3,
                                   UploadId=upload_id),
        lambda: client.list_parts(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id),
        lambda: client.abort_multipart_upload(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id),
    ]:
        e = refused(call)
        assert (e.get_status_code(), e.get_error_code()) == (404, "NoSuchUpload"), e
    # Nothing was written at the key.
    e = refused(lambda: client.head_object(Bucket=SDK_BUCKET, Key=key))
    assert e.get_status_code() == 404


def test_list_multipart_uploads_groups_and_pages(client, prefix):
    keys = [prefix + k for k in ("a.bin", "dir/one", "dir/two", "z.bin")]
    ids = {}
    for k in keys:
        ids[k] = client.create_multipart_upload(Bucket=SDK_BUCKET, Key=k)["UploadId"]
    # A second upload of the same key sorts after the first (the SDKs resume the newest).
    second = client.create_multipart_upload(Bucket=SDK_BUCKET, Key=keys[0])["UploadId"]
    try:
        grouped = client.list_multipart_uploads(Bucket=SDK_BUCKET, Prefix=prefix, Delimiter="/")
        assert [u["Key"] for u in grouped["Upload"]] == [keys[0], keys[0], keys[3]]
        assert [u["UploadId"] for u in grouped["Upload"]][:2] == [ids[keys[0]], second]
        assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == [prefix + "dir/"]
        seen, marker, id_marker = [], "", ""
        while True:
            page = client.list_multipart_uploads(
                Bucket=SDK_BUCKET, Prefix=prefix, MaxUploads=2, KeyMarker=marker,
                UploadIdMarker=id_marker)
            seen += [(u["Key"], u["UploadId"]) for u in page.get("Upload", [])]
            if page["IsTruncated"] == "false":
                break
            marker, id_marker = page["NextKeyMarker"], page["NextUploadIdMarker"]
        assert seen == sorted([(k, i) for k, i in ids.items()] + [(keys[0], second)])
    finally:
        for k, i in list(ids.items()) + [(keys[0], second)]:
            client.abort_multipart_upload(Bucket=SDK_BUCKET, Key=k, UploadId=i)


def test_upload_file_resumes_an_upload_begun_before(client, prefix, tmp_path):
    data = os.urandom(4 * MIB + 1)
    path = tmp_path / "resume.bin"
    path.write_bytes(data)
    key = prefix + "resume.bin"
    upload_id = client.create_multipart_upload(Bucket=SDK_BUCKET, Key=key)["UploadId"]
    for n in (1, 2):
        client.upload_part(Bucket=SDK_BUCKET, Key=key, Body=data[(n - 1) * MIB:n * MIB],
                           PartNumber=n, UploadId=upload_id)
    # upload_file finds the upload (list_multipart_uploads), checks its parts (list_parts)
    # against the file, uploads the rest and completes that same upload.
    resp = client.upload_file(Bucket=SDK_BUCKET, Key=key, LocalFilePath=str(path), PartSize=1)
    assert resp["ETag"] == multipart_etag(data, MIB)
    assert read(client, key) == data
    e = refused(lambda: client.list_parts(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id))
    assert e.get_error_code() == "NoSuchUpload"


def test_wrong_completions_are_refused_and_keep_the_old_object(client, prefix):
    key = prefix + "kept.bin"
    client.put_object(Bucket=SDK_BUCKET, Key=key, Body=b"the old object")
    upload_id = client.create_multipart_upload(Bucket=SDK_BUCKET, Key=key)["UploadId"]
    small, big, tail = os.urandom(1000), os.urandom(MIB), b"end"
    etags = {}
    for n, body in ((1, big), (2, small), (3, tail)):
        etags[n] = client.upload_part(Bucket=SDK_BUCKET, Key=key, Body=body, PartNumber=n,
                                      UploadId=upload_id)["ETag"]

    def complete(parts):
        return client.complete_multipart_upload(
            Bucket=SDK_BUCKET, Key=key, UploadId=upload_id,
            MultipartUpload={"Part": [{"PartNumber": n, "ETag": e} for n, e in parts]})

    cases = [
        ([(1, etags[1]), (4, etags[3])], "InvalidPart"),  # never uploaded
        ([(1, etags[2]), (3, etags[3])], "InvalidPart"),  # another part's ETag
        ([(3, etags[3]), (1, etags[1])], "InvalidPartOrder"),
        ([(1, etags[1]), (1, etags[1])], "InvalidPartOrder"),
        ([(1, etags[1]), (2, etags[2]), (3, etags[3])], "EntityTooSmall"),  # part 2 < 1 MB
    ]
    for parts, code in cases:
        e = refused(lambda: complete(parts))
        assert (e.get_status_code(), e.get_error_code()) == (400, code), (parts, e)
        assert read(client, key) == b"the old object"
    # The upload is still there; leaving part 2 out makes a valid object.
    resp = complete([(1, etags[1]), (3, etags[3])])
    assert read(client, key) == big + tail
    assert resp["ETag"] == multipart_etag(big + tail, MIB)
    e = refused(lambda: complete([(1, etags[1]), (3, etags[3])]))
    assert e.get_error_code() == "NoSuchUpload"


def test_upload_part_copy_builds_an_object_from_ranges(client, prefix):
    source = prefix + "source.bin"
    data = os.urandom(2 * MIB + 500)
    client.put_object(Bucket=SDK_BUCKET, Key=source, Body=data)
    key = prefix + "copied.bin"
    upload_id = client.create_multipart_upload(Bucket=SDK_BUCKET, Key=key)["UploadId"]
    copy_source = {"Bucket": SDK_BUCKET, "Key": source, "Region": client._conf._region}
    ranges = [(0, MIB - 1), (MIB, 2 * MIB - 1), (2 * MIB, len(data) - 1)]
    parts = []
    for n, (first, last) in enumerate(ranges, 1):
        r = client.upload_part_copy(
            Bucket=SDK_BUCKET, Key=key, PartNumber=n, UploadId=upload_id,
            CopySource=copy_source, CopySourceRange=f"bytes={first}-{last}")
        assert r["ETag"] == f'"{hashlib.md5(data[first:last + 1]).hexdigest()}"'
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    e = refused(lambda: client.upload_part_copy(
        Bucket=SDK_BUCKET, Key=key, PartNumber=9, UploadId=upload_id,
        CopySource=copy_source, CopySourceRange=f"bytes=0-{len(data)}"))
    assert (e.get_status_code(), e.get_error_code()) == (400, "InvalidArgument")
    client.complete_multipart_upload(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id,
                                     MultipartUpload={"Part": parts})
    assert read(client, key) == data


def test_a_part_whose_content_md5_does_not_match_is_refused(client, prefix):
    key = prefix + "md5.bin"
    upload_id = client.create_multipart_upload(Bucket=SDK_BUCKET, Key=key)["UploadId"]
    wrong = "1B2M2Y8AsgTpgAmY7PhCfg=="  # the MD5 of nothing
    e = refused(lambda: client.upload_part(Bucket=SDK_BUCKET, Key=key, Body=b"something",
                                           PartNumber=1, UploadId=upload_id, ContentMD5=wrong))
    assert (e.get_status_code(), e.get_error_code()) == (400, "InvalidDigest")
    assert "Part" not in client.list_parts(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id)
    for bad in (0, 10001):
        e = refused(lambda: client.upload_part(Bucket=SDK_BUCKET, Key=key, Body=b"x",
                                               PartNumber=bad, UploadId=upload_id))
        assert (e.get_status_code(), e.get_error_code()) == (400, "InvalidArgument")
    client.abort_multipart_upload(Bucket=SDK_BUCKET, Key=key, UploadId=upload_id)


def test_a_bucket_with_an_upload_in_progress_is_not_empty(make_client):
    c = make_client("proxy", "ap-chongqing")
    name = f"mpu{uuid.uuid4().hex[:8]}-1250000000"
    c.create_bucket(Bucket=name)
    upload_id = c.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    e = refused(lambda: c.delete_bucket(Bucket=name))
    assert (e.get_status_code(), e.get_error_code()) == (409, "BucketNotEmpty")
    c.abort_multipart_upload(Bucket=name, Key="k", UploadId=upload_id)
    c.delete_bucket(Bucket=name)


def test_a_detection_of_a_multipart_object_is_that_of_the_same_bytes_put_whole(client, prefix):
    """The detection reads the object's bytes, not its parts: a web shell split across parts
    is found, under the whole object's MD5 and SHA-256, as when it was PUT in one piece."""
    from test_sas import WEBSHELL

    data = WEBSHELL + b"// padding\n" * (MIB // 11) + WEBSHELL
    whole, split = prefix + "whole.php", prefix + "split.php"
    client.put_object(Bucket=SDK_BUCKET, Key=whole, Body=data)
    up = client.create_multipart_upload(Bucket=SDK_BUCKET, Key=split)["UploadId"]
    parts = []
    for n, at in enumerate(range(0, len(data), MIB), 1):
        r = client.upload_part(Bucket=SDK_BUCKET, Key=split, Body=data[at:at + MIB], PartNumber=n,
                               UploadId=up)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    assert len(parts) == 2
    client.complete_multipart_upload(Bucket=SDK_BUCKET, Key=split, UploadId=up,
                                     MultipartUpload={"Part": parts})
    from test_cos_virus import finished

    verdicts = []
    for key in (whole, split):
        job = client.ci_auditing_virus_submit(Bucket=SDK_BUCKET, Key=key)["JobsDetail"]["JobId"]
        done = finished(client, job)
        verdicts.append((done["Suggestion"], [r["VirusName"] for r in done["DetectDetail"][0]["Result"]]
                         if done["DetectDetail"] else []))
    assert verdicts[0] == verdicts[1], verdicts
    assert verdicts[0][0] == "block", verdicts
