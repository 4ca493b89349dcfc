"""Rebuild chalicelib/data/crawler_patterns.json from the installed crawler-user-agents.

    python -m tools.refresh_crawlers            # rewrite the file
    python -m tools.refresh_crawlers --check    # exit 1 when it differs from the library

The library (a maintained list of crawler user agents, monperrus/crawler-user-agents)
ships its patterns inside a 545 KB JSON file of examples and descriptions, parsed in full
when it is imported (≈ 20 ms), and then compiles all 1,500 patterns as regular
expressions (≈ 20 ms more): 40 ms of the cold start of every pixel fetched by a plain
browser. Sobre keeps only the patterns, in the library's order and chunking, and
chalicelib/core/agents.py matches the 97 % of them that are plain text with ``str.find``
(the same answer: tests/unit/test_crawler_list.py). Run this after upgrading the library
(requirements-dev.txt); the test fails until the file matches it.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata
from typing import Any

from chalicelib.core.agents import CRAWLER_PATTERNS_FILE


def from_library() -> dict[str, Any]:
    """The file's content, as the installed library would have it."""
    import crawleruseragents

    return {
        "source": f"crawler-user-agents {metadata.version('crawler-user-agents')}",
        "chunk": crawleruseragents.CHUNK_SIZE,
        "patterns": [entry["pattern"] for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA],
    }


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=0, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.refresh_crawlers", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    text = render(from_library())
    current = (
        CRAWLER_PATTERNS_FILE.read_text(encoding="utf-8") if CRAWLER_PATTERNS_FILE.exists() else ""
    )
    if args.check:
        if current != text:
            print(
                f"{CRAWLER_PATTERNS_FILE} is stale: python -m tools.refresh_crawlers",
                file=sys.stderr,
            )
            return 1
        return 0
    CRAWLER_PATTERNS_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {CRAWLER_PATTERNS_FILE} ({len(from_library()['patterns'])} patterns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
