"""Every function logs its Lambda context and flushes its metrics as Lambda runs it:
the handler named in the packaged template, imported in a fresh, isolated interpreter
from a copy of what the zip holds (chalicelib, no app.py), called with (event,
context). ``chalice.test`` always imports app.py, whose middleware would hide a
function that is not instrumented itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from infra import package
from tests.emulators import ROOT
from tests.integration.conftest import Stack, sns_event

CHILD = """
import importlib, json, os, sys
sys.path[:0] = [os.environ["TASK_ROOT"], os.environ["SITE_PACKAGES"]]

class Context:
    function_name = os.environ["FUNCTION_NAME"]
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = 512
    aws_request_id = "req-instrumented"
    log_group_name = log_stream_name = "test"

module, name = os.environ["HANDLER"].rsplit(".", 1)
handler = getattr(importlib.import_module(module), name)
handler(json.loads(os.environ["EVENT"]), Context())
assert "app" not in sys.modules, "the handler imported app.py"
"""


@pytest.fixture(scope="module")
def handlers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Function resource -> Handler, from the prod template."""
    sam_path, _ = package.build("prod", tmp_path_factory.mktemp("prod"))
    template = package.load_template(sam_path)
    return {
        name: resource["Properties"]["Handler"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def run_handler(
    handler: str, event: dict[str, Any], task: Path, child: str = CHILD
) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "TASK_ROOT": str(task),
        "SITE_PACKAGES": sysconfig.get_paths()["purelib"],
        "HANDLER": handler,
        "FUNCTION_NAME": "sobre-prod-" + handler.rsplit(".", 1)[1],
        "EVENT": json.dumps(event),
        "POWERTOOLS_METRICS_NAMESPACE": "Sobre",
    }
    done = subprocess.run(
        [sys.executable, "-I", "-c", child],
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.fixture
def task(tmp_path: Path) -> Path:
    """What the zip holds of Sobre: chalicelib alone (Chalice adds app.py, unused here)."""
    root = tmp_path / "task"
    shutil.copytree(
        ROOT / "chalicelib", root / "chalicelib", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root


def test_the_ses_events_function_logs_its_context_and_flushes_its_metrics(
    handlers: dict[str, str], task: Path, stack: Stack
) -> None:
    assert handlers["SesEvents"].startswith("chalicelib.")  # not app.py: the point here
    unknown = json.dumps(
        {
            "eventType": "Delivery",
            "mail": {
                "timestamp": "2026-11-29T12:00:00.000Z",
                "messageId": "0100019abcdef-unknown",
                "destination": ["x@example.com"],
                "tags": {},
            },
            "delivery": {
                "timestamp": "2026-11-29T12:00:01.000Z",
                "recipients": ["x@example.com"],
                "processingTimeMillis": 1,
                "smtpResponse": "250 ok",
            },
        }
    )
    lines = run_handler(handlers["SesEvents"], sns_event(unknown), task)
    logs = [line for line in lines if "function_name" in line]
    emf = [line for line in lines if "_aws" in line]
    assert emf, f"no metrics flushed: {lines}"
    names = {
        m["Name"] for blob in emf for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert names & {"SesEventsIgnored", "SesEventsUnprocessable", "SesEventsApplied"}, names
    assert logs, f"no log line carries the Lambda context: {lines}"
    assert all(line["function_request_id"] == "req-instrumented" for line in logs)
    assert logs[0]["cold_start"] is True


def test_every_function_but_the_api_is_instrumented_at_its_entry_point(
    handlers: dict[str, str],
) -> None:
    for name, handler in handlers.items():
        if name in ("APIHandler", "PublicDoor"):  # through app.py's HTTP middleware
            assert handler == {"APIHandler": "app.app", "PublicDoor": "app.public_door"}[name]
            continue
        module, function = handler.rsplit(".", 1)
        source = (ROOT / Path(*module.split("."))).with_suffix(".py").read_text()
        decorators = source.split(f"def {function}(")[0].rsplit("\n\n", 1)[-1]
        assert "@instrumented" in decorators, f"{name} ({handler}) is not instrumented"


def test_the_packaged_public_door_answers_a_payload_2_pixel_and_flushes_its_metrics(
    handlers: dict[str, str], task: Path, stack: Stack
) -> None:
    """app.public_door in a bare interpreter, as Lambda runs it behind the HTTP API: the
    GIF for a forged token, and the app's middleware (metrics) ran around it."""
    from tests.integration.test_public_door import v2_event

    shutil.copy2(ROOT / "app.py", task / "app.py")
    child = CHILD.replace(
        'assert "app" not in sys.modules, "the handler imported app.py"',
        "print(json.dumps({'answer': handler(json.loads(os.environ['EVENT']), Context())}))",
    ).replace('handler(json.loads(os.environ["EVENT"]), Context())\n', "", 1)
    event = v2_event("GET", "/t/not-a-token.gif", "GET /t/{token}")
    lines = run_handler(handlers["PublicDoor"], event, task, child)
    (answer,) = [line["answer"] for line in lines if "answer" in line]
    assert answer["statusCode"] == 200
    assert answer["isBase64Encoded"] is True
    assert answer["headers"]["content-type"] == "image/gif"
    emf = [line for line in lines if "_aws" in line]
    names = {m["Name"] for b in emf for d in b["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert "PixelTokenRejected" in names, lines
