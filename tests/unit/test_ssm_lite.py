"""The keyring's SSM read without botocore (chalicelib/adapters/ssm_lite.py) signs its
request exactly as botocore's SigV4 signer does: same canonical request, same headers,
same signature, for the same credentials and time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chalicelib.adapters import ssm_lite

NOW = datetime(2026, 12, 3, 5, 50, 7, tzinfo=UTC)
BODY = json.dumps({"Name": "/sobre/prod/token-secret", "WithDecryption": True}).encode()


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEBYaDGV4YW1wbGV0b2tlbg=="])
def test_the_signature_is_botocores(token: str | None) -> None:
    headers = {"Content-Type": ssm_lite.CONTENT_TYPE, "X-Amz-Target": ssm_lite.TARGET}
    ours = ssm_lite.sign(
        method="POST",
        host="ssm.eu-west-1.amazonaws.com",
        path="/",
        headers=headers,
        body=BODY,
        region="eu-west-1",
        service="ssm",
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token=token,
        now=NOW,
    )
    request = AWSRequest(
        method="POST", url="https://ssm.eu-west-1.amazonaws.com/", data=BODY, headers=headers
    )
    signer = SigV4Auth(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
        "ssm",
        "eu-west-1",
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        signer.add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def test_another_key_or_body_changes_the_signature() -> None:
    def signature(secret: str, body: bytes) -> str:
        return ssm_lite.sign(
            method="POST",
            host="ssm.us-east-1.amazonaws.com",
            path="/",
            headers={"X-Amz-Target": ssm_lite.TARGET},
            body=body,
            region="us-east-1",
            service="ssm",
            access_key="AKID",
            secret_key=secret,
            session_token=None,
            now=NOW,
        )["Authorization"]

    assert signature("a", BODY) != signature("b", BODY)
    assert signature("a", BODY) != signature("a", BODY + b" ")


def test_without_credentials_botocore_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    client = ssm_lite.create_client("ssm", region_name="us-east-1", endpoint_url=None)
    assert not isinstance(client, ssm_lite.LiteSsm)
    assert client.meta.service_model.service_name == "ssm"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert isinstance(
        ssm_lite.create_client("ssm", region_name="us-east-1", endpoint_url=None), ssm_lite.LiteSsm
    )
