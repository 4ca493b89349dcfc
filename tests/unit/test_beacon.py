"""The hosted page's display beacon (chalicelib/tracking/service.py confirm_view,
chalicelib/core/beacon.py): it counts only with the nonce of the page load that served
it, judged on that load's signals; anything else is kept as a machine's and changes no
status. And each token opens only what it was made for. In-memory fakes."""

from __future__ import annotations

import pytest

from chalicelib.core.model import Invoice, iso
from chalicelib.ids import NONCE_LIFETIME
from chalicelib.tracking import service as tracking_service
from tests.fakes import World
from tests.unit.test_service import (
    UA_SAFARI,
    facts_of,
    fetch,
    link_token,
    new_world,
    send,
    stored,
)

pytestmark = pytest.mark.disable_socket
ANA = "ana@example.com"


@pytest.fixture
def world() -> World:
    return new_world()


def load_page(world: World, invoice: Invoice, ua: str = UA_SAFARI, request: str = "load1") -> str:
    """A browser loads the hosted page: its beacon nonce."""
    hosted = tracking_service.view_invoice(
        world.ctx, link_token(world, invoice, ANA), fetch(ua=ua, request=request)
    )
    assert hosted is not None
    assert hosted.beacon_nonce is not None
    return hosted.beacon_nonce


def beacon(
    world: World, invoice: Invoice, nonce: object, ua: str = UA_SAFARI, request: str = "b1"
) -> bool:
    token = link_token(world, invoice, ANA)
    return tracking_service.confirm_view(world.ctx, token, nonce, fetch(ua=ua, request=request))


def sent_hour_ago(world: World) -> Invoice:
    invoice = send(world, ANA)
    world.clock.advance(hours=1)
    return invoice


def status(world: World, invoice: Invoice) -> str:
    return stored(world, invoice.id).recipients[0].status


def test_a_beacon_with_its_page_loads_nonce_makes_the_recipient_viewed(world: World) -> None:
    invoice = sent_hour_ago(world)
    loaded_at = iso(world.clock())
    nonce = load_page(world, invoice)
    world.clock.advance(seconds=4)
    assert beacon(world, invoice, nonce) is True
    ana = stored(world, invoice.id).recipients[0]
    assert (ana.status, ana.viewed_at) == ("viewed", loaded_at)
    [seen] = facts_of(world, invoice.id, "viewed")
    assert (seen.key, seen.at) == ("viewed-load1", loaded_at)  # keyed by the page load
    assert seen.details["page"]["key"] == "view-load1"
    assert seen.details["verdict"] == "human"
    assert seen.details["confirmed_at"] == iso(world.clock())


def test_a_beacon_without_a_nonce_is_a_machines_and_changes_no_status(world: World) -> None:
    """The issue's case: a POST with a browser's user agent, the page never loaded."""
    invoice = sent_hour_ago(world)
    for nonce in (None, "", "forged", 7):
        beacon(world, invoice, nonce, request=f"b-{nonce}")
    assert status(world, invoice) == "sent"
    facts = facts_of(world, invoice.id, "viewed")
    assert len(facts) == 4
    assert {f.details["verdict"] for f in facts} == {"scanner"}
    assert sorted(f.details["reasons"][0] for f in facts) == [
        "beacon:no-nonce",
        "beacon:no-nonce",
        "beacon:nonce-forged",
        "beacon:nonce-forged",
    ]
    assert stored(world, invoice.id).recipients[0].viewed_at is None


def test_a_nonce_counts_once(world: World) -> None:
    invoice = sent_hour_ago(world)
    nonce = load_page(world, invoice)
    world.clock.advance(seconds=4)
    assert beacon(world, invoice, nonce, request="b1") is True
    viewed_at = stored(world, invoice.id).recipients[0].viewed_at
    world.clock.advance(minutes=5)
    assert beacon(world, invoice, nonce, request="b2") is False
    facts = facts_of(world, invoice.id, "viewed")
    assert [(f.key, f.details["verdict"]) for f in facts] == [
        ("viewed-load1", "human"),
        ("viewed-b2", "scanner"),
    ]
    assert facts[1].details["reasons"][0] == "beacon:nonce-reused"
    assert stored(world, invoice.id).recipients[0].viewed_at == viewed_at


def test_an_expired_nonce_makes_no_view(world: World) -> None:
    invoice = sent_hour_ago(world)
    nonce = load_page(world, invoice)
    world.clock.advance(seconds=NONCE_LIFETIME.total_seconds() + 1)
    assert beacon(world, invoice, nonce) is False
    assert status(world, invoice) == "sent"
    [late] = facts_of(world, invoice.id, "viewed")
    assert late.details["reasons"][0] == "beacon:nonce-expired"


def test_a_nonce_of_another_recipient_makes_no_view(world: World) -> None:
    invoice = send(world, ANA, "ben@example.net")
    world.clock.advance(hours=1)
    ben_token = link_token(world, invoice, "ben@example.net")
    hosted = tracking_service.view_invoice(world.ctx, ben_token, fetch(request="ben1"))
    assert hosted is not None
    assert beacon(world, invoice, hosted.beacon_nonce) is False
    assert [r.status for r in stored(world, invoice.id).recipients] == ["sent", "sent"]


def test_a_beacon_is_judged_on_its_page_load(world: World) -> None:
    """A scanner that loads the page and runs its script is still a scanner; and a page
    served to one browser is not displayed by another."""
    invoice = sent_hour_ago(world)
    nonce = load_page(world, invoice, ua="Barracuda Sentinel (EE)", request="scan1")
    assert beacon(world, invoice, nonce, ua="Barracuda Sentinel (EE)") is True
    person = load_page(world, invoice, request="load2")
    beacon(world, invoice, person, ua="python-requests/2.31", request="b2")
    assert status(world, invoice) == "sent"
    verdicts = {f.key: f.details for f in facts_of(world, invoice.id, "viewed")}
    assert verdicts["viewed-scan1"]["verdict"] == "scanner"
    assert "ua:scanner:barracuda" in verdicts["viewed-scan1"]["reasons"]
    assert verdicts["viewed-load2"]["reasons"][0] == "beacon:other-browser"


def test_each_token_opens_only_what_it_was_made_for(world: World) -> None:
    invoice = sent_hour_ago(world)
    pixel = link_token(world, invoice, ANA, "pixel")
    view = link_token(world, invoice, ANA)
    # The pixel's token (what every image proxy and gateway fetched) opens no invoice.
    assert tracking_service.view_invoice(world.ctx, pixel, fetch()) is None
    assert tracking_service.hosted_pdf_url(world.ctx, pixel) is None
    assert tracking_service.confirm_view(world.ctx, pixel, None, fetch()) is False
    # And the view link's token counts no open.
    assert tracking_service.record_pixel_open(world.ctx, view, UA_SAFARI, None, "GET", "r") is False
    assert facts_of(world, invoice.id, "open") == facts_of(world, invoice.id, "view") == []
    assert tracking_service.record_pixel_open(world.ctx, pixel, UA_SAFARI, None, "GET", "r")
