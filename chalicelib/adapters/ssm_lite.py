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

import os
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.aws_json import AwsError, JsonClient, has_credentials, sign

__all__ = ["CONTENT_TYPE", "TARGET", "LiteSsm", "SsmError", "create_client", "sign"]

TARGET = "AmazonSSM.GetParameter"
CONTENT_TYPE = "application/x-amz-json-1.1"
SsmError = AwsError  # SSM's error answer (ParameterNotFound, AccessDenied, …)


class LiteSsm:
    """``get_parameter`` as botocore's SSM client answers it (the ``Parameter`` dict),
    with short timeouts and at most two attempts (a cold pixel waits for it)."""

    def __init__(
        self, region: str, endpoint_url: str | None, env: Mapping[str, str], timeout: float = 2.0
    ) -> None:
        self._client = JsonClient(
            service="ssm",
            target_prefix="AmazonSSM.",
            content_type=CONTENT_TYPE,
            region=region,
            endpoint_url=endpoint_url,
            env=env,
            connect_timeout=timeout,
            read_timeout=timeout,
            attempts=2,
        )

    def get_parameter(self, Name: str, WithDecryption: bool = False) -> dict[str, Any]:
        return self._client.call("GetParameter", {"Name": Name, "WithDecryption": WithDecryption})


def create_client(service: str, region_name: str, endpoint_url: str | None) -> Any:
    """An SSM client for ``get_parameter``: the light one when the environment holds
    credentials (Lambda's always does), botocore's otherwise."""
    if service != "ssm":
        raise ValueError(f"ssm_lite speaks SSM only, not {service}")
    env = os.environ
    endpoint = env.get("AWS_ENDPOINT_URL_SSM") or endpoint_url
    if has_credentials(env):
        return LiteSsm(region_name, endpoint, env)
    import botocore.session
    from botocore.config import Config

    # The same two attempts of two seconds as LiteSsm: a cold pixel waits for this.
    quick = Config(connect_timeout=2, read_timeout=2, retries={"total_max_attempts": 2})
    return botocore.session.get_session().create_client(
        "ssm", region_name=region_name, endpoint_url=endpoint, config=quick
    )
