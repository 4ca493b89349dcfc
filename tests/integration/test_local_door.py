"""The local stack's door (infra/local_door.py) as an HTTP server on 127.0.0.1: it writes
the function's answer back as the door would (base64 bodies decoded, no body for HEAD),
and a function that fails is the 502 an HTTP API or a load balancer answers then."""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from infra import local_door

GIF = b"GIF89a\x01\x00\x01\x00"


@contextmanager
def serving(kind: str, invoke: local_door.Invoke) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), local_door.handler_class(kind, invoke))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind", list(local_door.KINDS))
def test_the_answer_comes_back_as_the_door_writes_it(kind: str) -> None:
    events: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> Any:
        events.append(event)
        headers = {"content-type": ["image/gif"], "cache-control": ["no-store"]}
        return {
            "statusCode": 200,
            **({"multiValueHeaders": headers} if kind == "load-balancer" else {}),
            **({"headers": {k: v[0] for k, v in headers.items()}} if kind == "http-api" else {}),
            "body": base64.b64encode(GIF).decode(),
            "isBase64Encoded": True,
        }

    with serving(kind, invoke) as url:
        with urllib.request.urlopen(f"{url}/t/tok.gif", timeout=5) as got:
            assert got.status == 200
            assert got.headers["content-type"] == "image/gif"
            assert got.read() == GIF
        head = urllib.request.Request(f"{url}/t/tok.gif", method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as got:
            assert got.headers["content-length"] == str(len(GIF))
            assert got.read() == b""
    methods = [e.get("httpMethod") or e["requestContext"]["http"]["method"] for e in events]
    assert methods == ["GET", "HEAD"]


@pytest.mark.parametrize("kind", list(local_door.KINDS))
def test_a_failing_function_is_a_502_and_the_door_keeps_serving(kind: str) -> None:
    calls: list[int] = []

    def invoke(event: dict[str, Any]) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the function crashed")
        return {"statusCode": 204, "headers": {}, "body": ""}

    with serving(kind, invoke) as url:
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{url}/t/tok.gif", timeout=5)
        assert failed.value.code == 502
        with urllib.request.urlopen(f"{url}/t/tok.gif", timeout=5) as got:
            assert got.status == 204
