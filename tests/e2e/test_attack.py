"""An attacker's run (``python -m tools.attack --fast``) against its own local stack,
exactly as ``make run`` starts it: none of the eleven findings of issue 15 reproduces.
Its own stack, because the run ends with a flood of wrong keys that blocks this
machine's network on the API for the rest of that minute."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.test_local_stack import LocalStack, running_stack
from tests.emulators import ROOT

pytestmark = pytest.mark.e2e
FINDING = re.compile(r"^ ?(\d+)\. .*: (REPRODUCED|not reproduced) \(", re.MULTILINE)


@pytest.fixture(scope="module")
def attacked_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("sobre-attack")) as stack:
        yield stack


def test_no_finding_of_issue_15_reproduces(attacked_stack: LocalStack) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tools.attack", "--fast", "--state-dir", str(attacked_stack.state)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = run.stdout + run.stderr
    verdicts = dict(FINDING.findall(run.stdout))
    assert sorted(int(n) for n in verdicts) == list(range(1, 12)), report
    assert {n: v for n, v in verdicts.items() if v != "not reproduced"} == {}, report
    assert run.returncode == 0, report
    assert "no finding reproduced" in run.stdout
