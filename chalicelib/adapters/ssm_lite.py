"""One SSM call, GetParameter, without botocore: the token keyring's read at a cold start.

Importing botocore and building a client costs ~200 ms of a cold start (its session,
client, waiter and docs modules, then the service model and endpoint data), and every
public request needs the keyring before it can tell a forged token from a real one:
with this, a forged pixel imports no AWS SDK at all. It is the same HTTPS request
botocore would send (the JSON 1.1 protocol, ``X-Amz-Target: AmazonSSM.GetParameter``),
signed with Signature Version 4 from the credentials Lambda puts in the environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``); the signature
is checked against botocore's own signer in tests/unit/test_ssm_lite.py. Without
credentials in the environment (an operator's profile, SSO) ``create_client`` returns a
botocore client instead, which finds them its own way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

TARGET = "AmazonSSM.GetParameter"
CONTENT_TYPE = "application/x-amz-json-1.1"


class SsmError(Exception):
    """SSM answered an error (its ``__type``, e.g. ParameterNotFound, AccessDenied)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sign(
    *,
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    region: str,
    service: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    now: datetime,
) -> dict[str, str]:
    """The request's headers with its SigV4 ``Authorization`` (and ``X-Amz-Date``,
    ``X-Amz-Security-Token``): every header given is signed, as botocore signs them."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed["host"] = host
    signed["x-amz-date"] = stamp
    if session_token:
        signed["x-amz-security-token"] = session_token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            path or "/",
            "",  # no query string
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request"
    )
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    out = {**dict(headers), "X-Amz-Date": stamp, "Authorization": authorization}
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    return out


class LiteSsm:
    """``get_parameter`` as botocore's SSM client answers it (the ``Parameter`` dict),
    with short timeouts and at most two attempts (a cold pixel waits for it)."""

    def __init__(
        self, region: str, endpoint_url: str | None, env: Mapping[str, str], timeout: float = 2.0
    ) -> None:
        self._region = region
        self._endpoint = urlsplit(endpoint_url or f"https://ssm.{region}.amazonaws.com")
        self._env = env
        self._timeout = timeout

    def get_parameter(self, Name: str, WithDecryption: bool = False) -> dict[str, Any]:
        body = json.dumps({"Name": Name, "WithDecryption": WithDecryption}).encode()
        for attempt in (1, 2):
            try:
                return self._call(body)
            except SsmError as error:
                if attempt == 2 or error.status < 500:
                    raise
            except OSError:
                if attempt == 2:
                    raise
            time.sleep(0.05)
        raise AssertionError("unreachable")

    def _call(self, body: bytes) -> dict[str, Any]:
        import http.client  # lazy: ~3 ms, and only at a cold start

        host = self._endpoint.netloc
        headers = sign(
            method="POST",
            host=host,
            path=self._endpoint.path or "/",
            headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET},
            body=body,
            region=self._region,
            service="ssm",
            access_key=self._env["AWS_ACCESS_KEY_ID"],
            secret_key=self._env["AWS_SECRET_ACCESS_KEY"],
            session_token=self._env.get("AWS_SESSION_TOKEN") or None,
            now=datetime.now(UTC),
        )
        connection: http.client.HTTPConnection
        if self._endpoint.scheme == "https":
            connection = http.client.HTTPSConnection(host, timeout=self._timeout)
        else:  # a local emulator
            connection = http.client.HTTPConnection(host, timeout=self._timeout)
        try:
            connection.request("POST", self._endpoint.path or "/", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read() or b"{}")
        finally:
            connection.close()
        if response.status != 200:
            code = str(answer.get("__type", "")).rsplit("#", 1)[-1] or "Unknown"
            raise SsmError(response.status, code, str(answer.get("message", answer)))
        return dict(answer)


def create_client(service: str, region_name: str, endpoint_url: str | None) -> Any:
    """An SSM client for ``get_parameter``: the light one when the environment holds
    credentials (Lambda's always does), botocore's otherwise."""
    if service != "ssm":
        raise ValueError(f"ssm_lite speaks SSM only, not {service}")
    env = os.environ
    endpoint = env.get("AWS_ENDPOINT_URL_SSM") or endpoint_url
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return LiteSsm(region_name, endpoint, env)
    import botocore.session
    from botocore.config import Config

    # The same two attempts of two seconds as LiteSsm: a cold pixel waits for this.
    quick = Config(connect_timeout=2, read_timeout=2, retries={"total_max_attempts": 2})
    return botocore.session.get_session().create_client(
        "ssm", region_name=region_name, endpoint_url=endpoint, config=quick
    )
