"""The token keyring, read from an SSM SecureString (moto), and what a forged token
costs: verified before any storage client or pynamodb import (issue 13.3), and the
keyring read with one signed HTTPS call (chalicelib/adapters/ssm_lite.py: no botocore,
no boto3, no Powertools Parameters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import boto3
import pytest

from chalicelib import container
from chalicelib.ids import TokenSigner
from chalicelib.settings import Settings
from tests.emulators import ROOT, aws_environment

PARAMETER = "/sobre/test/token-secret"
KEY_1, KEY_2 = "first-key-of-the-keyring-32-byte", "second-key-of-the-keyring-32-byt"
INVOICE, RECIPIENT = "inv_" + "a" * 26, "rcp_" + "b" * 16
# A well-formed token (version 2, key 1) with a MAC no key made.
FORGED = "AgE" + "A" * 56
# What a forged token must not load: storage (pynamodb, the adapters), boto3 and its
# S3 transfer manager, Powertools Parameters.
HEAVY = ("pynamodb", "boto3", "s3transfer", "chalicelib.adapters")
PARAMETERS = "aws_lambda_powertools.utilities.parameters"
# Powertools loads with the first log line; a forged token logs nothing (metrics are
# plain EMF lines: chalicelib/observability.py).
POWERTOOLS = "aws_lambda_powertools"
# An AWS client (Powertools' logger imports the bare botocore package for its version).
CLIENTS = ("botocore.session", "botocore.client")
SSM_READER = "chalicelib.adapters.ssm_lite"
# What the SSM reader speaks: AWS's JSON protocol, over HTTP/1.1.
JSON_PROTOCOL = ("chalicelib.adapters.aws_json", "chalicelib.adapters.http11")


def put_keyring(endpoint: str, value: str) -> None:
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
    ssm.put_parameter(Name=PARAMETER, Value=value, Type="SecureString", Overwrite=True)


def settings_for(endpoint: str) -> Settings:
    env = {**aws_environment(endpoint), "SOBRE_TOKEN_SECRET_PARAMETER": PARAMETER}
    return Settings.from_env(env)


@pytest.fixture
def endpoint(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto server, with the fake credentials botocore reads from the environment."""
    for name, value in aws_environment(moto_url).items():
        monkeypatch.setenv(name, value)
    return moto_url


def test_the_keyring_is_read_from_ssm_and_kept_five_minutes(endpoint: str) -> None:
    put_keyring(endpoint, KEY_1)  # a plain secret, as before keyrings: key 1
    now = [1000.0]
    keys = container._KeyringCache(settings_for(endpoint), clock=lambda: now[0])
    signer = TokenSigner(keys)
    mailed = signer.token_for(INVOICE, RECIPIENT, "pixel")
    # Rotation, step 1 then 2 at once (a test may): key 2 signs, key 1 still verifies.
    put_keyring(endpoint, json.dumps({"keys": {"1": KEY_1, "2": KEY_2}, "signing": 2}))
    now[0] += container.KEYRING_SECONDS - 1
    assert signer.token_for(INVOICE, RECIPIENT, "pixel") == mailed  # still cached
    now[0] += 1
    fresh = signer.token_for(INVOICE, RECIPIENT, "pixel")
    assert fresh != mailed
    assert signer.verify(mailed, "pixel") == signer.verify(fresh, "pixel") is not None
    # SSM failing on a refresh: the keyring read before keeps verifying.
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
    ssm.delete_parameter(Name=PARAMETER)
    now[0] += container.KEYRING_SECONDS
    assert signer.verify(fresh, "pixel") is not None


def test_no_keyring_at_all_fails_at_the_first_use(endpoint: str) -> None:
    with pytest.raises(RuntimeError, match="SOBRE_TOKEN_SECRET"):
        container.token_keys(Settings.from_env(aws_environment(endpoint)))


_HANDLER = """
import json, sys
from app import app

def event(method, path, resource, token, body=None, content_type=None):
    headers = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/132"}
    if content_type:
        headers["Content-Type"] = content_type
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"token": token}, "stageVariables": None, "body": body,
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": resource, "httpMethod": method,
                           "requestId": "r1", "identity": {"sourceIp": "203.0.113.7"}},
    }

class Context:
    function_name = "sobre"; memory_limit_in_mb = 512; aws_request_id = "r1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:sobre"
    def get_remaining_time_in_millis(self): return 30000

token = sys.argv[1]
answers = [
    app(event("GET", f"/t/{token}.gif", "/t/{token}", token + ".gif"), Context()),
    app(event("GET", f"/v/{token}", "/v/{token}", token), Context()),
    app(event("GET", f"/v/{token}/pdf", "/v/{token}/pdf", token), Context()),
    app(event("POST", f"/v/{token}/seen", "/v/{token}/seen", token, "{}", "application/json"),
        Context()),
]
print(json.dumps({
    "answers": [[a["statusCode"], a["headers"].get("Content-Type")] for a in answers],
    "modules": sorted(sys.modules),
}))
"""


def handle_forged(env: dict[str, str]) -> dict[str, Any]:
    """A fresh interpreter (a cold container) answering a forged token on every
    public route, through the Lambda handler."""
    run = subprocess.run(
        [sys.executable, "-c", _HANDLER, FORGED],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "POWERTOOLS_METRICS_NAMESPACE": "Sobre", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return answer


def loaded(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    found = [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]
    # The keyring's SSM reader is the one adapter a public route needs before its token
    # verifies; it imports nothing of storage (nor any AWS SDK, checked below).
    return [m for m in found if m not in ("chalicelib.adapters", SSM_READER, *JSON_PROTOCOL)]


def test_a_forged_token_is_answered_before_any_storage_is_loaded(endpoint: str) -> None:
    # An endpoint nothing listens on: an AWS call would fail, not pass unnoticed.
    env = {**aws_environment("http://127.0.0.1:9"), "SOBRE_TOKEN_SECRET": KEY_1}
    answer = handle_forged(env)
    assert answer["answers"] == [
        [200, "image/gif"],
        [404, "text/html; charset=utf-8"],
        [404, "text/html; charset=utf-8"],
        [204, None],
    ]
    assert loaded(answer["modules"], (*HEAVY, *CLIENTS, PARAMETERS, POWERTOOLS)) == []


def test_the_keyring_from_ssm_costs_no_aws_sdk(endpoint: str) -> None:
    put_keyring(endpoint, json.dumps({"keys": {"1": KEY_1, "2": KEY_2}}))
    env = {**aws_environment(endpoint), "SOBRE_TOKEN_SECRET_PARAMETER": PARAMETER}
    answer = handle_forged(env)
    assert answer["answers"][0] == [200, "image/gif"]
    assert SSM_READER in answer["modules"]  # it did read SSM
    assert loaded(answer["modules"], (*HEAVY, *CLIENTS, PARAMETERS, POWERTOOLS)) == []


def test_without_credentials_in_the_environment_botocore_reads_the_keyring(
    endpoint: str, tmp_path: Any
) -> None:
    """An operator's profile (no AWS_ACCESS_KEY_ID): botocore finds the credentials."""
    put_keyring(endpoint, KEY_1)
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = t\n")
    env = {
        k: v
        for k, v in aws_environment(endpoint).items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    }
    env.update(SOBRE_TOKEN_SECRET_PARAMETER=PARAMETER, AWS_SHARED_CREDENTIALS_FILE=str(credentials))
    answer = handle_forged(env)
    assert answer["answers"][0] == [200, "image/gif"]
    assert loaded(answer["modules"], CLIENTS) != []
