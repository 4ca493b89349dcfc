"""The deployment artifact as Lambda runs it, for the cold-start section: a zip of what
deploys (app.py, chalicelib, the runtime requirements and their dependencies, Chalice's
runtime module), made lean and compiled by ``infra/lean_package.py`` exactly as
``make package`` does, then unzipped into a read-only directory (Lambda's
``/var/task``). The zip is assembled from this virtualenv's installed distributions
rather than by ``chalice package`` (which builds for manylinux and takes minutes): the
same files, in seconds. The package section (6) measures the real ``chalice package``.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from importlib import metadata
from pathlib import Path

from bench.core import ROOT
from infra.lean_package import Leaned, lean

# What `chalice package` adds of Chalice itself: its runtime module, nothing else.
CHALICE_RUNTIME = ("chalice/__init__.py", "chalice/app.py")
_NAME = re.compile(r"^([A-Za-z0-9._-]+)")


def _requirements() -> list[str]:
    names = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        found = _NAME.match(line.strip())
        if found and not line.strip().startswith("#"):
            names.append(found.group(1))
    return names


def _closure(roots: list[str]) -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this environment does not have
        seen[name] = dist
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            found = _NAME.match(requirement)
            if found:
                todo.append(found.group(1))
    return list(seen.values())


def build(work: Path) -> tuple[Path, Leaned]:
    """The read-only task directory and what leaning the zip did."""
    work.mkdir(parents=True, exist_ok=True)
    zip_path = work / "deployment.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:
        archive.write(ROOT / "app.py", "app.py")
        for path in sorted((ROOT / "chalicelib").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(ROOT).as_posix())
        for dist in _closure(_requirements()):
            for file in dist.files or []:
                name = file.as_posix()
                if name.startswith("..") or "__pycache__" in name or name.endswith(".pyc"):
                    continue
                source = Path(str(dist.locate_file(file)))
                if source.is_file():
                    archive.write(source, name)
        chalice = metadata.distribution("chalice")
        for name in CHALICE_RUNTIME:
            archive.write(Path(str(chalice.locate_file(name))), name)
    leaned = lean(zip_path)
    task = work / "task"
    if task.exists():
        shutil.rmtree(task)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    read_only(task)
    return task, leaned


def read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
