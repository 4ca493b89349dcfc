"""The invoice's creation in its history. It is not kept as a fact: the summary holds
its time, so writing it would cost one more item a POST (docs/DESIGN.md, "Facts"). The
readers of the history add it where it belongs: the oldest event of every invoice."""

from __future__ import annotations

from chalicelib.core.model import EventPage, Invoice, TimelineEvent


def creation(invoice: Invoice) -> TimelineEvent:
    """The "created" event, as a fact of its own would be (same key, time and source)."""
    return TimelineEvent(f"created-{invoice.id}", invoice.created_at, "created", None, "api")


def newest_first(invoice: Invoice, page: EventPage, limit: int, go_on: str | None) -> EventPage:
    """A page of facts, newest first, with the creation after the last fact. The facts
    end when ``page`` has no cursor: the creation joins the page if it has room, else
    the page goes on (``go_on``: the cursor after its last fact) to a page of only it."""
    if page.cursor is not None:
        return page
    if len(page.events) < limit:
        return EventPage([*page.events, creation(invoice)], None)
    return EventPage(page.events, go_on)
