"""``make reclassify`` re-judges stored facts with today's rules (issue 14, point 5): a
fetch judged a person's under the old token lists becomes the machine it was, with the new
reasons, and the counters follow. Every verdict keeps the signals it was judged on."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.core.status import Tally
from chalicelib.tracking import service as tracking_service
from tests.fakes import World
from tests.unit.test_service import facts_of, new_world, open_pixel, send, stored

pytestmark = pytest.mark.disable_socket

# A crawler dressed as Chrome, given away by its platform part (JayBizzle/Crawler-Detect
# tests/data/user_agent/crawlers.txt): the old rules passed any such string as a browser.
GTMETRIX = (
    "Mozilla/5.0 (X11; Linux x86_64; GTmetrix https://gtmetrix.com/) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/51.0.2704.106 Safari/537.36"
)


@pytest.fixture
def world() -> World:
    return new_world()


def test_reclassify_turns_an_old_person_verdict_into_the_machine_it_was(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(hours=2)
    assert open_pixel(world, "ana@example.com", ua=GTMETRIX, request="r1")
    [fresh] = facts_of(world, invoice.id, "open")
    assert fresh.details["verdict"] == "scanner"
    new_reasons = fresh.details["reasons"]
    # As the old rules stored it: a person's open, counted.
    old = dataclasses.replace(
        fresh,
        details={**fresh.details, "verdict": "human", "reasons": ["ua:client:browser"]},
    )
    world.invoices.facts[invoice.id][f"{old.at}#{old.key}"] = old
    [ana] = invoice.recipients
    world.invoices.replace_counters(invoice.id, ana.id, Tally(open_count=1), 0)
    assert tracking_service.reclassify(world.ctx, [invoice.id]) == {"invoices": 1, "changed": 1}
    [judged] = facts_of(world, invoice.id, "open")
    assert judged.details["verdict"] == "scanner"
    assert judged.details["reasons"] == new_reasons
    assert judged.details["reasons"][0].startswith("ua:bot:")
    # The signals it was judged on stay with it, so it can be judged again.
    assert (judged.details["user_agent"], judged.details["method"]) == (GTMETRIX, "GET")
    [after] = stored(world, invoice.id).recipients
    assert (after.open_count, after.machine_open_count, after.status) == (0, 1, "sent")
    assert tracking_service.reclassify(world.ctx, [invoice.id]) == {"invoices": 1, "changed": 0}
