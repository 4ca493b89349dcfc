"""Section 6: the deployment package. ``chalice package`` runs on a copy of what deploys
(app.py, chalicelib, requirements.txt, .chalice without its caches) in a temporary directory,
so the project's own .chalice/deployments cache is left alone; then the zip is
measured and every file attributed to the distribution whose RECORD lists it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

from bench.core import ROOT, Row, verdict

SECTION = "6 package size"
ZIPPED_LIMIT_MB = 50  # Lambda: direct upload of a zip
UNZIPPED_LIMIT_MB = 250  # Lambda: code and layers, unzipped
MB = 1_000_000


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(_norm(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


class Distributions:
    """The distributions in a Lambda zip: their files and their requirements."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.files: dict[str, set[str]] = {}
        self.requires: dict[str, set[str]] = {}
        for name in archive.namelist():
            if not name.endswith(".dist-info/METADATA"):
                continue
            info_dir = name.rsplit("/", 1)[0]
            metadata = archive.read(name).decode("utf-8", "replace")
            match = re.search(r"^Name: (.+)$", metadata, re.M)
            dist = _norm(match.group(1).strip()) if match else _norm(info_dir.split("-")[0])
            self.requires[dist] = {
                _norm(re.split(r"[<>=!~\[; (]", req.strip(), maxsplit=1)[0])
                for req in re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
                if "extra ==" not in req
            }
            try:
                record = archive.read(f"{info_dir}/RECORD").decode("utf-8", "replace")
            except KeyError:
                record = ""
            self.files[dist] = {line.split(",", 1)[0] for line in record.splitlines() if line}
            self.files[dist].add(f"{info_dir}/")

    def closure(self, roots: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = [r for r in roots if r in self.requires]
        while todo:
            dist = todo.pop()
            if dist in seen:
                continue
            seen.add(dist)
            todo.extend(r for r in self.requires.get(dist, ()) if r in self.requires)
        return seen

    def owner(self, path: str) -> str | None:
        for dist, files in self.files.items():
            if path in files or any(path.startswith(f) for f in files if f.endswith("/")):
                return dist
        return None


def _mb(size: float) -> str:
    return f"{size / MB:.1f}"


def run(work: Path) -> list[Row]:
    project = work / "package-project"
    out = work / "package-out"
    project.mkdir()
    shutil.copy2(ROOT / "app.py", project / "app.py")
    shutil.copy2(ROOT / "requirements.txt", project / "requirements.txt")
    shutil.copytree(
        ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        ROOT / ".chalice",
        project / ".chalice",
        ignore=shutil.ignore_patterns("deployments", "venv"),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["AWS_DEFAULT_REGION"] = env.get("AWS_DEFAULT_REGION", "us-east-1")
    chalice = str(Path(sys.executable).parent / "chalice")
    command = [chalice, "package", "--stage", "prod", "--pkg-format", "cloudformation", str(out)]
    began = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        failure = None if done.returncode == 0 else (done.stderr or done.stdout).strip()
    except subprocess.TimeoutExpired:
        failure = "timed out after 900 s"
    seconds = time.perf_counter() - began
    zip_path = out / "deployment.zip"
    if failure is not None or not zip_path.exists():
        return [
            Row(
                SECTION,
                "chalice package --stage prod --pkg-format cloudformation",
                f"failed: {(failure or 'no deployment.zip')[-300:]}",
                "packages",
                "falls short",
                {"error": failure, "command": command},
            )
        ]

    with zipfile.ZipFile(zip_path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        dists = Distributions(archive)
    zipped = zip_path.stat().st_size
    unzipped = sum(i.file_size for i in infos)
    pyc = sum(i.filename.endswith(".pyc") for i in infos)
    by_top: Counter[str] = Counter()
    by_top_zipped: Counter[str] = Counter()
    by_dist: Counter[str] = Counter()
    by_dist_zipped: Counter[str] = Counter()
    for info in infos:
        top = info.filename.split("/", 1)[0]
        by_top[top] += info.file_size
        by_top_zipped[top] += info.compress_size
        owner = dists.owner(info.filename) or (
            "sobre" if top in ("app.py", "chalicelib") else f"({top})"
        )
        by_dist[owner] += info.file_size
        by_dist_zipped[owner] += info.compress_size

    requirements = _requirement_names((ROOT / "requirements.txt").read_text())
    everything = dists.closure(requirements)
    without_chalice = dists.closure([r for r in requirements if r != "chalice"])
    chalice_only = sorted(everything - without_chalice - {"chalice"})
    sdk = sorted(dists.closure(["boto3"]))

    def group(names: list[str]) -> tuple[int, int]:
        return sum(by_dist[n] for n in names), sum(by_dist_zipped[n] for n in names)

    sdk_size, sdk_zipped = group(sdk)
    cli_size, cli_zipped = group(chalice_only)
    babel_size, babel_zipped = group(["babel"])
    ours_size, ours_zipped = group(["sobre"])
    ok = zipped <= ZIPPED_LIMIT_MB * MB and unzipped <= UNZIPPED_LIMIT_MB * MB
    largest = by_top.most_common(6)
    return [
        Row(
            SECTION,
            "deployment.zip (chalice package --stage prod)",
            f"{_mb(zipped)} MB zipped, {_mb(unzipped)} MB unzipped, {len(infos):,} files, "
            f"{pyc} .pyc; packaged in {seconds:.0f} s",
            f"≤ {ZIPPED_LIMIT_MB} MB zipped, ≤ {UNZIPPED_LIMIT_MB} MB unzipped (Lambda)",
            verdict(ok),
            {
                "zipped_bytes": zipped,
                "unzipped_bytes": unzipped,
                "files": len(infos),
                "pyc_files": pyc,
                "seconds": round(seconds, 1),
            },
        ),
        Row(
            SECTION,
            "largest top-level entries, MB unzipped (zipped)",
            ", ".join(f"{n} {_mb(s)} ({_mb(by_top_zipped[n])})" for n, s in largest),
            data={
                "top_unzipped_bytes": dict(by_top.most_common(20)),
                "top_zipped_bytes": {n: by_top_zipped[n] for n, _ in by_top.most_common(20)},
            },
        ),
        Row(
            SECTION,
            "AWS SDK (Lambda's runtime has it): " + ", ".join(sdk),
            f"{_mb(sdk_zipped)} MB zipped ({100 * sdk_zipped / zipped:.0f} %), "
            f"{_mb(sdk_size)} MB unzipped",
            data={"distributions": sdk, "zipped_bytes": sdk_zipped, "unzipped_bytes": sdk_size},
        ),
        Row(
            SECTION,
            "only there for the chalice CLI (when requirements.txt lists chalice)",
            (
                f"{_mb(cli_zipped)} MB zipped ({100 * cli_zipped / zipped:.0f} %), "
                f"{_mb(cli_size)} MB unzipped: " + ", ".join(chalice_only)
            )
            if chalice_only
            else "none: only Chalice's runtime module (chalice/app.py) is bundled",
            data={
                "distributions": chalice_only,
                "zipped_bytes": cli_zipped,
                "unzipped_bytes": cli_size,
            },
        ),
        Row(
            SECTION,
            "babel (all locales; Sobre renders en and es)",
            f"{_mb(babel_zipped)} MB zipped ({100 * babel_zipped / zipped:.0f} %), "
            f"{_mb(babel_size)} MB unzipped",
            data={"zipped_bytes": babel_zipped, "unzipped_bytes": babel_size},
        ),
        Row(
            SECTION,
            "Sobre itself (app.py, chalicelib)",
            f"{ours_zipped / 1000:.0f} kB zipped, {ours_size / 1000:.0f} kB unzipped",
            data={"zipped_bytes": ours_zipped, "unzipped_bytes": ours_size},
        ),
    ]
