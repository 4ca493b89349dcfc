"""The hosted page's display beacon is judged with the page load it refers to. Pure.

The beacon (a ``viewed`` fact) proves only that a script ran; who ran it is told by the
page fetch that served that script. So a beacon carries a copy of its page load's
signals (``details["page"]``, found through the page's nonce, chalicelib/ids.py) and is
judged on them; one without (no, forged, expired or reused nonce: ``details["render"]``
says which) is a machine's and changes no status. A copy, not a reference, so every
re-judge sees the same signals whatever window of facts it reads.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.classification import Judgement
from chalicelib.core.model import TimelineEvent


def refusal(event: TimelineEvent) -> Judgement | None:
    """The machine verdict of a beacon that cannot be a display; None otherwise (and
    for every other fetch)."""
    if event.type != "viewed":
        return None
    page = event.details.get("page")
    if not isinstance(page, dict):
        problem = event.details.get("render") or "no-page-load"
        return Judgement("scanner", 0.9, (f"beacon:{problem}",))
    if page.get("user_agent") != event.details.get("user_agent"):
        # The page was served to one browser and "displayed" by another.
        return Judgement("scanner", 0.8, ("beacon:other-browser",))
    return None


def signals_of(event: TimelineEvent) -> dict[str, Any]:
    """The user agent, network and method a fetch is judged on: a beacon's are its
    page load's."""
    page = event.details.get("page") if event.type == "viewed" else None
    return page if isinstance(page, dict) else event.details
