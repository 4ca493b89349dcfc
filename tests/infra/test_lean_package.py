"""infra/lean_package.py: the zip Lambda runs ships bytecode Python really uses from a
read-only directory, no stale bytecode, and only the Babel locales Sobre renders."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from infra.lean_package import keeps_locale, lean


def make_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "VALUE = 'compiled'\n")
        archive.writestr("__pycache__/app.cpython-311.pyc", b"stale bytes")
        archive.writestr("chalicelib/__init__.py", "")
        archive.writestr("chalicelib/__pycache__/__init__.cpython-312.pyc", b"stale")
        for locale in ("root", "en", "en_GB", "en_001", "es", "es_MX", "de", "fr_CA", "eo"):
            archive.writestr(f"babel/locale-data/{locale}.dat", b"x")
        archive.writestr("babel/global.dat", b"global")
        archive.writestr("broken/py2.py", "print 'hello'\n")


def test_bytecode_is_compiled_used_read_only_and_stale_bytecode_gone(tmp_path: Path) -> None:
    package = tmp_path / "deployment.zip"
    make_zip(package)
    done = lean(package)
    assert done.stale_removed == 2
    assert done.not_compiled == ("broken/py2.py",)
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        pyc = archive.read("__pycache__/app.cpython-311.pyc")
        archive.extractall(tmp_path / "task")
    assert "chalicelib/__pycache__/__init__.cpython-312.pyc" not in names
    # PEP 552 flags: hash-based (bit 0), check_source off (bit 1).
    assert int.from_bytes(pyc[4:8], "little") == 0b01
    task = tmp_path / "task"
    # The source changes after compiling and the directory is read-only, as on Lambda:
    # only a bytecode file Python uses as it is can give the compiled value.
    (task / "app.py").write_text("VALUE = 'source'\n")
    for path in [task, *task.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, '.'); import app; print(app.VALUE)",
        ],
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "compiled"
    for path in [task, *task.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_only_the_locales_sobre_renders_are_kept(tmp_path: Path) -> None:
    package = tmp_path / "deployment.zip"
    make_zip(package)
    done = lean(package)
    assert done.locales_kept == ("en", "en_001", "en_GB", "es", "es_MX", "root")
    assert done.locales_removed == 3
    with zipfile.ZipFile(package) as archive:
        assert archive.read("babel/global.dat") == b"global"
    assert not keeps_locale("babel/locale-data/eo.dat")
    assert keeps_locale("babel/locale-data/es_419.dat")
