"""AWS's JSON protocol (SSM, DynamoDB) without botocore, over one kept-alive HTTP/1.1
connection per thread (http11.py).

Importing botocore and building one client costs ~200 ms of a cold start (its session,
client and loader modules, then the service model and endpoint data decoded from
JSON). The public routes make a handful of calls of two services whose protocol is one
signed POST of a JSON body, so they speak it here: the same HTTPS request botocore
would send, signed with Signature Version 4 from the credentials Lambda puts in the
environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``).
tests/unit/test_ssm_lite.py checks the signature against botocore's own signer.

An error answer is raised as ``AwsError`` with botocore's ``response`` shape (``Error``
and ``ResponseMetadata``), so whatever recognises a botocore ``ClientError`` by shape
(chalicelib/tracking/ses_transient.py) recognises it too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from chalicelib.adapters.http11 import BrokenAnswer, Connection

# Worth another attempt: throttling and the server's own failures (botocore's list).
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)


class AwsError(Exception):
    """The service answered an error: ``code`` is its ``__type`` without the namespace
    (``ConditionalCheckFailedException``, ``ParameterNotFound``, …)."""

    def __init__(self, status: int, code: str, message: str, body: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code
        self.response: dict[str, Any] = {
            **body,
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }


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


def has_credentials(env: Mapping[str, str]) -> bool:
    """Whether the environment holds credentials (Lambda's always does); without them
    (an operator's profile, SSO) botocore finds them its own way."""
    return bool(env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"))


class JsonClient:
    """Calls of one service's JSON protocol: ``call("GetParameter", {...})`` answers the
    decoded body. One kept-alive connection per thread (a connection is not
    thread-safe; the public routes write from a small pool). ``attempts`` in all,
    retrying connection failures, throttling and 5xx with jittered backoff."""

    def __init__(
        self,
        *,
        service: str,
        target_prefix: str,
        content_type: str,
        region: str,
        endpoint_url: str | None,
        env: Mapping[str, str],
        connect_timeout: float,
        read_timeout: float,
        attempts: int,
        errors: Mapping[str, type[AwsError]] | None = None,
    ) -> None:
        self._service, self._prefix, self._content_type = service, target_prefix, content_type
        self._region = region
        self._endpoint = urlsplit(endpoint_url or f"https://{service}.{region}.amazonaws.com")
        self._credentials = (
            env["AWS_ACCESS_KEY_ID"],
            env["AWS_SECRET_ACCESS_KEY"],
            env.get("AWS_SESSION_TOKEN") or None,
        )
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._attempts = attempts
        self._errors = dict(errors or {})  # an error code raised as its own class
        self._local = threading.local()

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(request, separators=(",", ":")).encode()
        for attempt in range(1, self._attempts + 1):
            try:
                return self._send(operation, body)
            except AwsError as error:
                if attempt == self._attempts or not (
                    error.status >= 500 or error.code in RETRYABLE_CODES
                ):
                    raise
            except OSError:  # refused, reset, timed out, a broken answer (BrokenAnswer)
                if attempt == self._attempts:
                    raise
            time.sleep(random.uniform(0, 0.025 * 2**attempt))  # noqa: S311 (jitter, not a secret)
        raise AssertionError("unreachable")

    def _send(self, operation: str, body: bytes) -> dict[str, Any]:
        access_key, secret_key, token = self._credentials
        path = self._endpoint.path or "/"
        headers = sign(
            method="POST",
            host=self._endpoint.netloc,
            path=path,
            headers={"Content-Type": self._content_type, "X-Amz-Target": self._prefix + operation},
            body=body,
            region=self._region,
            service=self._service,
            access_key=access_key,
            secret_key=secret_key,
            session_token=token,
            now=datetime.now(UTC),
        )
        headers["Host"] = self._endpoint.netloc  # as signed
        answer = self._connection().post(path, headers, body)
        raw = answer.body
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            raise BrokenAnswer(f"{answer.status}: not JSON: {raw[:80]!r}") from None
        if answer.status != 200:
            code = str(decoded.get("__type", "")).rsplit("#", 1)[-1] or "Unknown"
            message = str(decoded.get("message") or decoded.get("Message") or "")
            raise self._errors.get(code, AwsError)(answer.status, code, message, decoded)
        return dict(decoded)

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            tls = self._endpoint.scheme == "https"  # else a local emulator
            connection = Connection(
                self._endpoint.hostname or "",
                self._endpoint.port or (443 if tls else 80),
                tls,
                self._connect_timeout,
                self._read_timeout,
            )
            self._local.connection = connection
        return connection
