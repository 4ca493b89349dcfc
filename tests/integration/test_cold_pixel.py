"""A cold container's first valid pixel records the open through the table's low-level
client (chalicelib/adapters/dynamo/lite.py) and loads neither pynamodb nor botocore:
what a cold start of the public routes pays (issue 13.3, ``make bench`` section 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from chalice.test import Client

from tests.emulators import ROOT, aws_environment
from tests.integration.conftest import (
    Stack,
    auth,
    invoice_body,
    message_to,
    pixel_path,
    post_invoice,
)

_PIXEL = """
import json, sys
from app import app

class Context:
    function_name = "sobre"; memory_limit_in_mb = 512; aws_request_id = "r1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:sobre"
    def get_remaining_time_in_millis(self): return 30000

path = sys.argv[1]
token = path.rsplit("/", 1)[1]
headers = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
           "(KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36"}
answer = app({
    "resource": "/t/{token}", "path": path, "httpMethod": "GET", "headers": headers,
    "multiValueHeaders": {k: [v] for k, v in headers.items()},
    "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": {"token": token}, "stageVariables": None, "body": None,
    "isBase64Encoded": False,
    "requestContext": {"resourcePath": "/t/{token}", "httpMethod": "GET",
                       "requestId": "cold-1", "identity": {"sourceIp": "203.0.113.7"}},
}, Context())
print(json.dumps({"status": answer["statusCode"], "modules": sorted(sys.modules)}))
"""


def serve_cold(path: str, env: dict[str, str]) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-c", _PIXEL, path],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return answer


def test_a_cold_first_pixel_records_the_open_without_pynamodb_or_botocore(
    client: Client, api_key: str, stack: Stack
) -> None:
    created = post_invoice(client, api_key, invoice_body()).json_body
    path = pixel_path(message_to(stack, "ana@globex.example"))
    env = {
        **aws_environment(stack.endpoint),
        "SOBRE_TOKEN_SECRET": os.environ["SOBRE_TOKEN_SECRET"],
        "POWERTOOLS_METRICS_NAMESPACE": "Sobre",
    }
    answer = serve_cold(path, env)
    assert answer["status"] == 200
    detail = client.http.get(f"/invoices/{created['id']}", headers=auth(api_key)).json_body
    ana = next(r for r in detail["recipients"] if r["email"] == "ana@globex.example")
    assert ana["open_count"] == 1
    assert ana["status"] == "opened"
    heavy = [m for m in answer["modules"] if m.split(".")[0] in ("pynamodb", "botocore", "boto3")]
    assert heavy == []
    assert "chalicelib.adapters.dynamo.lite" in answer["modules"]
