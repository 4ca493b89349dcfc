"""Makes the deployment zip lean and compiled, after ``chalice package``.

    python -m infra.lean_package out/prod/deployment.zip

- Bytecode Python really uses on Lambda's read-only ``/var/task``: every module compiled
  to an *unchecked-hash* ``.pyc`` (PEP 552) in its ``__pycache__``. Python cannot write
  a cache there, and a timestamp ``.pyc`` is only used when its recorded source mtime
  matches; an unchecked-hash one is used as it is. Sources stay, for tracebacks.
- No stale ``__pycache__`` from a work tree (other Pythons, other sources).
- Only the Babel locales Sobre renders (``render/translations.py``: en, es, with their
  regional variants) and ``root``, which every locale inherits from: 33 of 69 MB.

It must run on the Python version of the functions' runtime (python3.11): bytecode is
version-specific. Nothing here changes what the code does.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from chalicelib.core.model import LANGUAGES as LANGUAGES_RENDERED

RUNTIME = (3, 11)  # .chalice/config.json deploys python3.11
LANGUAGES = tuple(sorted(LANGUAGES_RENDERED))
LOCALE_DATA = "babel/locale-data/"


@dataclass(frozen=True)
class Leaned:
    compiled: int
    not_compiled: tuple[str, ...]
    stale_removed: int
    locales_kept: tuple[str, ...]
    locales_removed: int
    size_before: int
    size_after: int


def keeps_locale(name: str) -> bool:
    """Whether a ``babel/locale-data/<locale>.dat`` file is one Sobre can render in."""
    locale = PurePosixPath(name).stem
    return locale == "root" or locale.split("_", 1)[0] in LANGUAGES


def _skipped(name: str) -> str | None:
    """Why an entry of the original zip is left out, or None to keep it."""
    path = PurePosixPath(name)
    if "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
        return "stale"
    if name.startswith(LOCALE_DATA) and path.suffix == ".dat" and not keeps_locale(name):
        return "locale"
    return None


def lean(zip_path: Path) -> Leaned:
    if sys.version_info[:2] != RUNTIME:
        raise SystemExit(
            f"infra.lean_package needs Python {RUNTIME[0]}.{RUNTIME[1]} (the functions' "
            f"runtime) to compile the bytecode; this is {sys.version.split()[0]}"
        )
    size_before = zip_path.stat().st_size
    stale = removed_locales = 0
    kept_locales: list[str] = []
    compiled = 0
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sobre-lean-") as tmp:
        root = Path(tmp) / "task"
        modes: dict[str, int] = {}
        with zipfile.ZipFile(zip_path) as original:
            for info in original.infolist():
                reason = None if info.is_dir() else _skipped(info.filename)
                if reason == "stale":
                    stale += 1
                    continue
                if reason == "locale":
                    removed_locales += 1
                    continue
                if info.filename.startswith(LOCALE_DATA) and info.filename.endswith(".dat"):
                    kept_locales.append(PurePosixPath(info.filename).stem)
                original.extract(info, root)
                modes[info.filename] = info.external_attr
        for source in sorted(root.rglob("*.py")):
            relative = source.relative_to(root).as_posix()
            try:
                py_compile.compile(
                    str(source),
                    dfile=f"/var/task/{relative}",
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
                compiled += 1
            except py_compile.PyCompileError:
                failed.append(relative)  # a file no import can load anyway (py2 leftovers)
        partial = zip_path.with_suffix(".lean.zip")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
            for path in sorted(root.rglob("*")):
                if path.is_dir():
                    continue
                name = path.relative_to(root).as_posix()
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                # Bytecode is new (no mode of its own); the rest keep the zip's.
                info.external_attr = modes.get(name) or (0o644 << 16)
                out.writestr(info, path.read_bytes())
        os.replace(partial, zip_path)
    return Leaned(
        compiled=compiled,
        not_compiled=tuple(failed),
        stale_removed=stale,
        locales_kept=tuple(sorted(kept_locales)),
        locales_removed=removed_locales,
        size_before=size_before,
        size_after=zip_path.stat().st_size,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.lean_package", description=__doc__)
    parser.add_argument("zip", type=Path)
    args = parser.parse_args(argv)
    done = lean(args.zip)
    mb = 1024 * 1024
    print(
        f"{args.zip}: {done.compiled} modules compiled (unchecked-hash .pyc), "
        f"{done.stale_removed} stale bytecode files removed, {len(done.locales_kept)} Babel "
        f"locales kept and {done.locales_removed} removed; "
        f"{done.size_before / mb:.1f} MB -> {done.size_after / mb:.1f} MB zipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
