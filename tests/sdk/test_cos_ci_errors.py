"""Authentication errors of Cloud Infinite calls use the CI codes (cos-ci.md §4):
MissingAuthorization, SecretidNotExist, SignatureExpired (401); a wrong signature stays
SignatureDoesNotMatch (403)."""

import pytest
import requests
from qcloud_cos.cos_exception import CosServiceError

from cosutil import ACCESS_KEY_ID, SDK_BUCKET, SDK_REGION

JOB = "f" + "0" * 32


def test_unknown_secret_id_and_wrong_secret(make_client, mode, bucket):
    unknown = make_client(mode, SDK_REGION, secret_id="AKIDnobody000000000000000000000000000")
    with pytest.raises(CosServiceError) as e:
        unknown.ci_get_file_process_jobs(Bucket=SDK_BUCKET, JobIDs=JOB)
    assert (e.value.get_status_code(), e.value.get_error_code()) == (401, "SecretidNotExist")
    wrong = make_client(mode, SDK_REGION, secret_key="x" * 32)
    with pytest.raises(CosServiceError) as e:
        wrong.ci_get_file_process_jobs(Bucket=SDK_BUCKET, JobIDs=JOB)
    assert (e.value.get_status_code(), e.value.get_error_code()) == (403, "SignatureDoesNotMatch")


def test_unsigned_and_expired_ci_calls(server, proxy_client, bucket):
    proxies = {"http": f"http://127.0.0.1:{server.port}"}
    ci = f"http://{SDK_BUCKET}.ci.{SDK_REGION}.myqcloud.com"
    r = requests.post(ci + "/file_jobs", data=b"<Request/>", proxies=proxies)
    assert r.status_code == 401 and "<Code>MissingAuthorization</Code>" in r.text
    auth = proxy_client.get_auth(Method="GET", Bucket=SDK_BUCKET, Key="file_jobs/" + JOB, Expired=-10)
    cos = f"http://{SDK_BUCKET}.cos.{SDK_REGION}.myqcloud.com"
    r = requests.get(cos + "/file_jobs/" + JOB, headers={"Authorization": auth}, proxies=proxies)
    assert r.status_code == 401 and "<Code>SignatureExpired</Code>" in r.text, r.text
    assert ACCESS_KEY_ID in auth
