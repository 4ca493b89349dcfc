"""Starting and stopping the local AWS emulators the tests talk to over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: every socket is held until all are chosen (two
    ``free_port()`` calls in a row can be handed the same port)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error status: the server is up
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer in {timeout}s") from exc
            time.sleep(0.1)


@contextmanager
def running(command: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            wait_for_http(ready_url)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(command, f"{url}/moto-api/", log_dir / "moto.log"):
        yield url


def dynalite_command() -> list[str] | None:
    binary = ROOT / "node_modules" / ".bin" / "dynalite"
    if binary.exists():
        return [str(binary)]
    found = shutil.which("dynalite")
    return [found] if found else None


@contextmanager
def dynalite_server(log_dir: Path) -> Iterator[str]:
    command = dynalite_command()
    if command is None:
        raise RuntimeError("dynalite is not installed: run `make node_modules`")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # No artificial table-creation delays: tests create and drop tables often.
    flags = ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    with running([*command, "--port", str(port), *flags], url, log_dir / "dynalite.log"):
        yield url


def aws_environment(endpoint: str) -> dict[str, str]:
    return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


def apply_environment(values: dict[str, str]) -> dict[str, str | None]:
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    return previous
