"""DynamoDB's low-level calls without botocore, where the environment holds credentials
(Lambda's always does): the public routes' cold start imports no AWS SDK and decodes no
service model (chalicelib/adapters/aws_json.py says why). The calls take and answer
what botocore's DynamoDB client does (its JSON, untouched: Sobre stores no binary
attribute), and a failed condition raises ``exceptions.ConditionalCheckFailedException``
as botocore's client does, so the stores cannot tell which one they were given
(``helpers.table_client``). tests/integration run every store through this client
against moto and dynalite."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.aws_json import AwsError, JsonClient, has_credentials

# A call answers within milliseconds; a page of a scan (1 MB) within a second.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 10.0
ATTEMPTS = 5  # botocore retries DynamoDB's throttling more than other services'


class ConditionalCheckFailed(AwsError):
    """The write's condition did not hold: nothing was written."""


class _Exceptions:
    ConditionalCheckFailedException = ConditionalCheckFailed


class LiteDynamoDB:
    exceptions = _Exceptions

    def __init__(self, region: str, endpoint_url: str | None, env: Mapping[str, str]) -> None:
        self._json = JsonClient(
            service="dynamodb",
            target_prefix="DynamoDB_20120810.",
            content_type="application/x-amz-json-1.0",
            region=region,
            endpoint_url=endpoint_url,
            env=env,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            attempts=ATTEMPTS,
            errors={"ConditionalCheckFailedException": ConditionalCheckFailed},
        )

    def get_item(self, **request: Any) -> dict[str, Any]:
        return self._json.call("GetItem", request)

    def put_item(self, **request: Any) -> dict[str, Any]:
        return self._json.call("PutItem", request)

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self._json.call("UpdateItem", request)

    def delete_item(self, **request: Any) -> dict[str, Any]:
        return self._json.call("DeleteItem", request)

    def query(self, **request: Any) -> dict[str, Any]:
        return self._json.call("Query", request)

    def scan(self, **request: Any) -> dict[str, Any]:
        return self._json.call("Scan", request)

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        return self._json.call("BatchGetItem", request)

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        return self._json.call("BatchWriteItem", request)


_built: dict[tuple[str, str | None, str], LiteDynamoDB] = {}


# "botocore": the stores use botocore's client even where this one could serve (what a
# benchmark that counts requests through botocore's event hooks needs: bench/core.py).
CLIENT_SETTING = "SOBRE_DYNAMODB_CLIENT"


def from_environment(region: str) -> LiteDynamoDB | None:
    """The client for ``region`` and the environment's endpoint and credentials (one
    per process, made again when they change, as tests change them); None without
    credentials in the environment, or when ``SOBRE_DYNAMODB_CLIENT=botocore``."""
    env = os.environ
    if not has_credentials(env) or env.get(CLIENT_SETTING) == "botocore":
        return None
    endpoint = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or None
    key = (region, endpoint, env["AWS_ACCESS_KEY_ID"])
    client = _built.get(key)
    if client is None:
        _built.clear()
        client = _built[key] = LiteDynamoDB(region, endpoint, env)
    return client
