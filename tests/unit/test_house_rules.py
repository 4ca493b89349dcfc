"""The rules of the house that import-linter cannot say (its contracts, in
pyproject.toml, run in `make lint`): entry points import only their own package, the
container and the HTTP plumbing; no deployed module is too long to read in a sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"
ENTRY_POINTS = sorted(
    path
    for name in ("routes.py", "subscriptions.py", "schedules.py")
    for path in CHALICELIB.glob(f"*/{name}")
)
# What any entry point may use besides its own package: how to build the use cases'
# ports, how to answer HTTP, how to log, and the settings its decorators need.
# And how to load a module of its own package at first use (chalicelib/lazy.py; the
# modules it names are checked like imports).
SHARED = {"chalicelib.container", "chalicelib.http", "chalicelib.observability", "chalicelib.lazy"}
SHARED_NAMES = {
    ("chalicelib.settings", "EVENTS_TOPIC_NAME"),
    ("chalicelib.settings", "FETCH_QUEUE_NAME"),
    ("chalicelib.settings", "SEND_QUEUE_NAME"),
}
MAX_LINES = 400


def chalicelib_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every chalicelib import, lazy ones inside functions included."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chalicelib"):
            found.extend((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((a.name, "") for a in node.names if a.name.startswith("chalicelib"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "lazy_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((str(node.args[0].value), ""))  # a lazy import
    return found


def test_every_package_has_entry_points_to_check() -> None:
    packages = {path.parent.name for path in ENTRY_POINTS}
    assert {"sending", "tracking", "reports", "alerts", "dashboard"} <= packages


@pytest.mark.parametrize("path", ENTRY_POINTS, ids=lambda p: str(p.relative_to(CHALICELIB)))
def test_entry_points_import_only_their_package_the_container_and_http(path: Path) -> None:
    own = f"chalicelib.{path.parent.name}"
    for module, name in chalicelib_imports(path):
        full = f"{module}.{name}" if module == own else module
        allowed = (
            full == own
            or full.startswith(own + ".")
            or module in SHARED
            or (module, name) in SHARED_NAMES
        )
        assert allowed, f"{path.relative_to(ROOT)} imports {module}.{name}"


def test_app_registers_every_entry_point() -> None:
    imported = {module for module, _ in chalicelib_imports(ROOT / "app.py")}
    expected = {".".join(path.relative_to(ROOT).with_suffix("").parts) for path in ENTRY_POINTS}
    assert expected <= imported


@pytest.mark.parametrize(
    "path",
    [*sorted(CHALICELIB.rglob("*.py")), ROOT / "app.py"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_modules_are_small_enough_to_read_in_one_sitting(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"
