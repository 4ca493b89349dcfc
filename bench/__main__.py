"""``python -m bench [--smoke] [--only 1,3] [--json PATH]``: run the benchmarks, print
one table, write it as JSON (bench/results.json for a full run)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.capacity import METER
from bench.core import (
    COUNTER,
    REGION,
    ROOT,
    SENDER,
    TABLE,
    Backends,
    Mode,
    Row,
    progress,
    stack_environment,
    stdout_silenced,
    use_environment,
)

SECTIONS = {
    "1": "DynamoDB capacity per operation",
    "2": "index versus scan",
    "3": "CPU of Sobre's code",
    "4": "cold start",
    "5": "concurrency",
    "6": "package size",
    "7": "open classifier",
    "8": "storage paused",
    "9": "month-end (send queue, SES throttled)",
    "10": "dollars per million opens (from sections 1 and 3)",
}


@contextlib.contextmanager
def _dynalite(work: Path) -> Iterator[str | None]:
    from tests.emulators import dynalite_command, dynalite_server

    if dynalite_command() is None:
        progress("dynalite is not installed (npm ci): DynamoDB runs on moto only")
        yield None
        return
    with dynalite_server(work) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a reduced run, in seconds")
    parser.add_argument("--only", default="", help="comma-separated section numbers (1-10)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the results (default: bench/results.json; none with --smoke)",
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    COUNTER.install()  # before anything creates a botocore client
    METER.install()  # the same: clients copy their session's hooks when created
    mode = Mode.of(args.smoke)
    wanted = {s.strip() for s in args.only.split(",") if s.strip()} or set(SECTIONS)
    if "10" in wanted:
        wanted |= {"1", "3"}  # its inputs
    if not mode.package:
        wanted.discard("6")
    rows: list[Row] = []
    failed: list[str] = []
    started = time.monotonic()

    def section(number: str, action: Callable[[], list[Row]]) -> None:
        if number not in wanted:
            return
        progress(f"section {number}: {SECTIONS[number]}")
        began = time.monotonic()
        try:
            rows.extend(action())
        except Exception as exc:
            traceback.print_exc()
            failed.append(number)
            rows.append(
                Row(
                    f"{number} {SECTIONS[number]}",
                    "section did not complete",
                    f"{type(exc).__name__}: {exc}"[:200],
                    "completes",
                    "falls short",
                )
            )
        progress(f"section {number} took {time.monotonic() - began:.1f} s")

    from bench import (
        classifier,
        cold_start,
        concurrency,
        cost,
        cpu,
        dynamo_requests,
        index_scan,
        month_end,
        package,
        paused,
    )
    from infra.local_stack import create_table, provision_messaging
    from tests.emulators import moto_server

    with stdout_silenced(), tempfile.TemporaryDirectory(prefix="sobre-bench-") as temp:
        work = Path(temp)
        progress("starting moto server and dynalite")
        with moto_server(work) as moto, _dynalite(work) as dynalite:
            backends = Backends(moto, dynalite)
            env = stack_environment(moto)
            use_environment(env)
            create_table(TABLE, REGION)
            provision_messaging(REGION, "sobre", (SENDER,))
            section("1", lambda: dynamo_requests.run(mode, backends))
            section("2", lambda: index_scan.run(mode, backends))
            section("3", lambda: cpu.run(mode))
            section("4", lambda: cold_start.run(mode, env, work))
            section("5", lambda: concurrency.run(mode, env, work, backends))
            section("8", lambda: paused.run(mode, REGION, work))
            section("9", lambda: month_end.run(mode, work, backends.dynalite))
            use_environment(env)
        section("6", lambda: package.run(work))
        section("7", lambda: classifier.run(mode))
        section("10", lambda: cost.run(rows))

    from bench import report

    meta = {
        **report.machine(),
        "mode": "smoke" if mode.smoke else "full",
        "seconds": round(time.monotonic() - started, 1),
        "sections": sorted(wanted),
    }
    print(report.table(rows, meta))
    out = (
        args.json
        if args.json is not None
        else (None if mode.smoke else ROOT / "bench" / "results.json")
    )
    if out is not None:
        report.write_json(out, rows, meta)
        print(f"\nWritten to {out}")
    if failed:
        print(f"Sections that did not complete: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
