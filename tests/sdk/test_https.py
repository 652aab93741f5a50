"""The SDKs in their default scheme, https: a server started with `[http] tls_cert`/`tls_key`
(a CA and a certificate for 127.0.0.1 made here), and clients that trust that CA the way a
user with a private CA would (COS's `VerifySSL`, Alibaba's runtime `ca`). Objects,
a multipart upload, a hash job, a virus detection and an Alibaba detection go over TLS; plain
HTTP to the TLS port is refused."""

import datetime
import hashlib
import ipaddress
import os
import shutil
import tempfile
import time

import pytest
import requests
from alibabacloud_sas20181203 import models as sas
from alibabacloud_sas20181203.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from qcloud_cos import CosConfig, CosS3Client

from conftest import _start_server
from cosutil import ACCESS_KEY_ID, APPID, SECRET_ACCESS_KEY
from test_sas import EICAR

BUCKET = f"https-{APPID}"
REGION = "ap-guangzhou"


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def make_ca_and_cert(directory):
    """A CA, and a certificate for 127.0.0.1 and localhost it signed; their paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hashscan SDK test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(directory, name) for name in ("ca.pem", "cert.pem", "key.pem")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert.pem"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key.pem"], "wb") as f:
        f.write(_pem_key(key))
    return paths


@pytest.fixture(scope="module")
def tls():
    certs = tempfile.mkdtemp(prefix="hashscan-sdk-tls-")
    paths = make_ca_and_cert(certs)
    srv, root = _start_server(allow_private=True, tls=(paths["cert.pem"], paths["key.pem"]))
    yield srv, paths["ca.pem"]
    srv.stop()
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(certs, ignore_errors=True)


@pytest.fixture(scope="module")
def cos(tls):
    srv, ca = tls
    # The SDK's own option for a private CA (requests' `verify`).
    conf = CosConfig(Region=REGION, SecretId=ACCESS_KEY_ID, SecretKey=SECRET_ACCESS_KEY,
                     Scheme="https", IP="127.0.0.1", Port=srv.port, VerifySSL=ca)
    client = CosS3Client(conf, retry=0)
    client.create_bucket(Bucket=BUCKET)
    yield client


def test_plain_http_to_the_tls_port_is_refused(tls):
    srv, _ = tls
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{srv.port}/healthz", timeout=5)
    # And a client that does not trust the CA refuses the server.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://127.0.0.1:{srv.port}/healthz", timeout=5)


def test_objects_and_a_multipart_upload_over_https(cos, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    cos.put_object(Bucket=BUCKET, Key="small.txt", Body=b"over TLS")
    assert cos.get_object(Bucket=BUCKET, Key="small.txt")["Body"].get_raw_stream().read() == b"over TLS"
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    resp = cos.upload_file(Bucket=BUCKET, Key="big.bin", LocalFilePath=str(path), PartSize=1)
    assert resp["ETag"].endswith('-4"'), resp["ETag"]
    assert cos.get_object(Bucket=BUCKET, Key="big.bin")["Body"].get_raw_stream().read() == data


def test_a_hash_job_and_a_virus_detection_over_https(cos):
    data = os.urandom(100_000)
    cos.put_object(Bucket=BUCKET, Key="hash.bin", Body=data)
    job = cos.ci_create_file_hash_job(
        Bucket=BUCKET, InputObject="hash.bin", FileHashCodeConfig={"Type": "SHA256"})["JobsDetail"]
    deadline = time.time() + 60
    while True:
        d = cos.ci_get_file_process_jobs(Bucket=BUCKET, JobIDs=job["JobId"])["JobsDetail"][0]
        if d["State"] == "Success":
            break
        assert time.time() < deadline, d
        time.sleep(0.1)
    assert d["Operation"]["FileHashCodeResult"]["SHA256"] == hashlib.sha256(data).hexdigest()

    cos.put_object(Bucket=BUCKET, Key="eicar.com", Body=EICAR)
    virus = cos.ci_auditing_virus_submit(Bucket=BUCKET, Key="eicar.com")["JobsDetail"]["JobId"]
    while True:
        v = cos.ci_auditing_virus_query(Bucket=BUCKET, JobID=virus)["JobsDetail"]
        if v["State"] == "Success":
            break
        assert time.time() < deadline, v
        time.sleep(0.1)
    assert v["Suggestion"] == "block"


def test_alibaba_sdk_over_https_with_its_ca_option(tls):
    srv, ca = tls
    client = Client(open_api_models.Config(
        access_key_id=ACCESS_KEY_ID, access_key_secret=SECRET_ACCESS_KEY,
        endpoint=f"127.0.0.1:{srv.port}", protocol="https"))
    runtime = util_models.RuntimeOptions(ca=ca)
    md5 = hashlib.md5(EICAR).hexdigest()
    # The hash is unknown to this server: 3 (not found) until a file is submitted.
    got = client.get_file_detect_result_with_options(
        sas.GetFileDetectResultRequest(hash_key_list=[md5], type=0), runtime)
    assert got.status_code == 200
    assert got.body.result_list[0].hash_key == md5
