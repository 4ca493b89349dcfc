"""The one table ``make bench`` prints, and the same rows as JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.core import Row

MEASURE_WIDTH = 62
VALUE_WIDTH = 58


def machine() -> dict[str, Any]:
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": int(nproc.strip() or 0),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def table(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"Sobre benchmarks ({meta['mode']}) — {meta['date']}, {meta['nproc']} CPU "
        f"{meta['arch']}, Python {meta['python']}, {meta['seconds']:.0f} s",
    ]
    measure_width = min(MEASURE_WIDTH, max((len(r.measure) for r in rows), default=10))
    value_width = min(VALUE_WIDTH, max((len(r.value) for r in rows), default=10))
    section = None
    for r in rows:
        if r.section != section:
            section = r.section
            lines.append("")
            lines.append(f"== {section}")
            lines.append(
                f"{'measure':<{measure_width}}  {'value':<{value_width}}  target  → verdict"
            )
        mark = {"pass": "pass", "falls short": "FALLS SHORT", "info": ""}[r.verdict]
        target = f"{r.target}  → {mark}" if r.target else mark
        lines.append(f"{r.measure:<{measure_width}}  {r.value:<{value_width}}  {target}".rstrip())
    passed = sum(r.verdict == "pass" for r in rows)
    short = [r for r in rows if r.verdict == "falls short"]
    lines.append("")
    lines.append(f"{passed} pass, {len(short)} fall short of their target.")
    lines.extend(f"  falls short: [{r.section}] {r.measure}: {r.value}" for r in short)
    return "\n".join(lines)


def write_json(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    document = {"meta": meta, "rows": [r.as_json() for r in rows]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
