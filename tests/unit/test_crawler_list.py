"""The crawler list Sobre keeps (chalicelib/data/crawler_patterns.json, read by
chalicelib/core/agents.py) is crawler-user-agents' own, and matching it as plain text
where a pattern is plain text gives the library's answer, for every example the library
ships and for strings no pattern matches."""

from __future__ import annotations

import re

import crawleruseragents
import pytest

from chalicelib.core import agents
from tools import refresh_crawlers

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro)",
    "",
)


def library_answer(ua: str) -> str | None:
    """What the library's own chunked search finds first (what agents.py did before)."""
    for pattern in crawleruseragents.CRAWLER_PATTERNS._chunks_case_sensitive:
        found = pattern.search(ua)
        if found:
            return str(found.group(0))
    return None


def test_the_kept_list_is_the_installed_library_s() -> None:
    assert refresh_crawlers.main(["--check"]) == 0, "run: python -m tools.refresh_crawlers"


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("Googlebot\\/", "Googlebot/"),
        ("Mediapartners \\(Googlebot\\)", "Mediapartners (Googlebot)"),
        ("grub\\.org", "grub.org"),
        ("a\\\\b", "a\\b"),
        ("Googlebot-Mobile", "Googlebot-Mobile"),
        ("AdsBot-Google([^-]|$)", None),
        ("[wW]get", None),
        ("^Seekbot", None),
        ("BlogTraffic\\/\\d\\.\\d+ Feed-Fetcher", None),
        ("SSL Labs$", None),
        ("Spider[\\s\\S]*spider\\.com", None),
    ],
)
def test_plain_text_is_only_what_matches_itself(pattern: str, text: str | None) -> None:
    assert agents.plain_text(pattern) == text
    if text is not None:  # the regular expression finds exactly that text
        found = re.search(pattern, f"x{text}y")
        assert found is not None
        assert found.group(0) == text


def test_most_patterns_need_no_regular_expression() -> None:
    chunks = agents.crawler_chunks()
    flat = [p for chunk in chunks for p in chunk]
    compiled = [p for p in flat if not isinstance(p, str)]
    assert len(flat) == len(crawleruseragents.CRAWLER_USER_AGENTS_DATA)
    assert [len(c) for c in chunks[:-1]] == [crawleruseragents.CHUNK_SIZE] * (len(chunks) - 1)
    assert 0 < len(compiled) < len(flat) / 10


def test_every_example_of_the_library_gets_the_library_s_answer() -> None:
    examples = [
        ua for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA for ua in entry["instances"]
    ]
    assert len(examples) > 1000
    differ = [
        (ua, agents._listed_crawler(ua), library_answer(ua))
        for ua in examples
        if agents._listed_crawler(ua) != library_answer(ua)
    ]
    assert differ == []
    assert all(library_answer(ua) for ua in examples)  # each is a crawler the list knows


@pytest.mark.parametrize("ua", BROWSERS)
def test_people_s_agents_are_not_listed(ua: str) -> None:
    assert agents._listed_crawler(ua) is None
    assert library_answer(ua) is None
