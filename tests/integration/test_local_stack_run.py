"""``make run`` (infra/run.py) refuses a port in use, naming the variable to change,
before it starts anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulators import ROOT, free_ports


@pytest.mark.parametrize(
    "variable",
    ["SOBRE_PORT", "SOBRE_AWS_PORT", "SOBRE_OUTBOX_PORT", "SOBRE_STORAGE_PORT", "SOBRE_DOOR_PORT"],
)
def test_a_port_in_use_is_named_by_its_variable(variable: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        api, aws, outbox, storage, door = free_ports(5)
        env = {
            **os.environ,
            "SOBRE_PORT": str(api),
            "SOBRE_AWS_PORT": str(aws),
            "SOBRE_OUTBOX_PORT": str(outbox),
            "SOBRE_STORAGE_PORT": str(storage),
            "SOBRE_DOOR_PORT": str(door),
            "SOBRE_STATE_DIR": str(tmp_path / "state"),
            variable: str(port),
        }
        result = subprocess.run(
            [sys.executable, "-m", "infra.run"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"Port {port} is already in use" in result.stderr
    assert f"{variable}=<port> make run" in result.stderr
    assert not (tmp_path / "state").exists()  # nothing started, nothing written
