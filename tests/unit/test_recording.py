"""Recording facts (chalicelib/recording.py) through its use cases: SES events, the
hosted invoice, alerts, and the guarantees of the storage model (a summary, a counters
item per recipient, an item per fact): a fact counted exactly once across a crash and
its retry, duplicates that write nothing, late facts that re-judge earlier verdicts,
repeat opens that never grow or rewrite the summary, and ``reclassify``. Over the
in-memory fakes of tests/fakes.py; helpers from test_service.py."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import recording
from chalicelib.core.alerts import Alert
from chalicelib.core.model import TAG_INVOICE, Invoice, iso
from chalicelib.core.privacy import scrub_ips
from chalicelib.core.status import Tally
from chalicelib.core.stored import pdf_key
from chalicelib.errors import ConcurrentUpdate, Unavailable
from chalicelib.sending import views
from chalicelib.tracking import service as tracking_service
from chalicelib.tracking import ses_service
from chalicelib.tracking.facts import fetch_fact
from tests.fakes import FakeInvoiceStore, World, make_context, make_world, pixel_open
from tests.unit.test_service import (
    BOUNCE,
    DELIVERY,
    FIXTURES,
    IP,
    PDF,
    SES_OPEN,
    UA_IOS_MAIL,
    UA_MPP,
    UA_SAFARI,
    acme,
    facts_of,
    fetch,
    fixture_message,
    link_token,
    message_id_for,
    new_world,
    open_pixel,
    outcome,
    process,
    record,
    send,
    ses_message,
    sns_event,
    stored,
    summary_item,
    tagged,
    tags_for,
)

pytestmark = pytest.mark.disable_socket


@pytest.fixture
def world() -> World:
    return new_world()


def counts(w: World, invoice_id: str) -> list[tuple[int, int]]:
    return [(r.open_count, r.machine_open_count) for r in stored(w, invoice_id).recipients]


def ses_open(w: World, invoice: Invoice, address: str, at: datetime, ua: str) -> Any:
    message = tagged(w, invoice, SES_OPEN, address, at=at)
    message["open"]["userAgent"] = ua
    return message


# -- SES events ---------------------------------------------------------------------------


def three_record_event(w: World, invoice: Invoice) -> dict[str, Any]:
    return sns_event(
        tagged(w, invoice, DELIVERY, "ana@example.com"),
        tagged(w, invoice, SES_OPEN, "ben@example.net"),
        tagged(w, invoice, BOUNCE, "cleo@example.org"),
    )


def test_a_three_record_event_processes_all_three(world: World) -> None:
    invoice = send(world)
    result = ses_service.process_sns_event(world.ctx, three_record_event(world, invoice))
    assert result == outcome(processed=3)
    after = stored(world, invoice.id)
    assert [r.status for r in after.recipients] == ["delivered", "sent", "bounced"]
    # Tracking is on: SES's report of Ben's display is kept, but the pixel counts opens.
    assert counts(world, invoice.id) == [(0, 0)] * 3
    [ben_open] = facts_of(world, invoice.id, "open")
    assert (ben_open.recipient_id, ben_open.source) == (after.recipients[1].id, "ses")
    assert ben_open.details["counted"] is False
    assert views.timeline([ben_open])[0]["details"]["counted"] is False
    cleo = after.recipients[2]
    assert cleo.bounce is not None
    assert cleo.bounce["type"] == "Permanent"
    assert "NoSuchUser" in cleo.bounce["diagnostic"]
    dimensions = sorted(
        d["eventType"] for name, _, d in world.metrics.calls if name == "SesEventsProcessed"
    )
    assert dimensions == ["bounce", "delivery", "open"]


def test_duplicate_events_write_no_summary_and_add_no_fact(world: World) -> None:
    invoice = send(world)
    event = three_record_event(world, invoice)
    assert ses_service.process_sns_event(world.ctx, event) == outcome(processed=3)
    summary, history = summary_item(world, invoice.id), facts_of(world, invoice.id)
    saves, puts = world.invoices.saves, world.invoices.fact_puts
    counters = copy.deepcopy(world.invoices.counters)
    for _ in range(2):
        world.clock.advance(minutes=3)
        assert ses_service.process_sns_event(world.ctx, event) == outcome(duplicate=3)
    assert summary_item(world, invoice.id) == summary
    assert (world.invoices.saves, world.invoices.fact_puts) == (saves, puts)
    assert facts_of(world, invoice.id) == history
    assert world.invoices.counters == counters


def test_the_same_record_three_times_in_one_event(world: World) -> None:
    invoice = send(world)
    delivery = tagged(world, invoice, DELIVERY, "ana@example.com")
    assert process(world, delivery, delivery, delivery) == outcome(processed=1, duplicate=2)
    assert len(facts_of(world, invoice.id, "delivery")) == 1


def test_unprocessable_payloads_are_kept_and_counted(world: World) -> None:
    send(world)

    def load(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text())

    inbound = load("lambda-ses-inbound-receipt-NOT-a-notification.powertools.json")
    records = [
        {"Sns": load("sns-http-ses-topic-validation.localstack-snapshot.json")},
        {"Sns": load("sns-http-subscription-confirmation.spatie.json")},
        inbound["Records"][0],
        {"Sns": load("moto-5.2.5-sqs-body-identity-bounce.NOT-AWS-FORMAT.json")},
    ]
    unknown = fixture_message(DELIVERY)
    unknown["eventType"] = "Teleport"
    records.append(record(unknown))
    puts = world.invoices.fact_puts
    result = ses_service.process_sns_event(world.ctx, {"Records": records})
    assert result == outcome(unprocessable=5)
    assert world.metrics.counts["SesEventsUnprocessable"] == 5
    kept = world.unprocessed.list_unprocessed(10)
    payloads = [json.loads(k["payload"]) for k in kept]
    assert len(kept) == 5
    # Whole, but for its addresses: each cut to its network (the inbound receipt's
    # 203.0.113.1 is kept as 203.0.113.0).
    assert all(json.loads(scrub_ips(json.dumps(r))) in payloads for r in records)
    assert "203.0.113.1" not in json.dumps(payloads)
    assert "203.0.113.0" in json.dumps(payloads)
    assert any("SubscriptionConfirmation" in k["reason"] for k in kept)
    assert any("Teleport" in k["reason"] for k in kept)
    assert world.invoices.fact_puts == puts


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": "x"}, {"records": [1]}])
def test_event_without_records_is_kept(world: World, event: dict[str, Any]) -> None:
    assert ses_service.process_sns_event(world.ctx, event) == outcome(unprocessable=1)
    [kept] = world.unprocessed.list_unprocessed(10)
    assert json.loads(kept["payload"]) == event


def test_one_bad_record_does_not_stop_the_others_and_a_kept_one_replays(world: World) -> None:
    invoice = send(world)
    good = tagged(world, invoice, DELIVERY, "ana@example.com")
    assert process(world, "not json", good) == outcome(processed=1, unprocessable=1)
    assert stored(world, invoice.id).recipients[0].status == "delivered"
    bounce = record(tagged(world, invoice, BOUNCE, "ben@example.net"))
    assert ses_service.replay_payload(world.ctx, json.dumps(bounce)) == "processed"
    assert ses_service.replay_payload(world.ctx, json.dumps(bounce)) == "duplicate"
    assert ses_service.replay_payload(world.ctx, "{").startswith("unprocessable")
    assert stored(world, invoice.id).recipients[1].status == "bounced"


def test_events_for_unknown_messages_invoices_or_other_accounts_are_ignored(
    world: World,
) -> None:
    invoice = send(world)
    before, puts = summary_item(world, invoice.id), world.invoices.fact_puts
    address = "ana@example.com"
    message_id = message_id_for(world, address)
    classic = ses_message(
        "classic-bounce-permanent-with-dsn.awsdocs.json", "0100-not-ours", address, tags=None
    )
    unknown_invoice = {**tags_for(invoice, address), TAG_INVOICE: "inv_" + "z" * 26}
    foreign = tags_for(invoice, address, account_id="globex")
    messages = [ses_message(DELIVERY, message_id, address, t) for t in (unknown_invoice, foreign)]
    assert process(world, classic, *messages) == outcome(ignored=3)
    assert world.metrics.counts["SesEventsIgnored"] == 3
    assert summary_item(world, invoice.id) == before
    assert world.invoices.fact_puts == puts


def test_classic_notification_maps_back_through_the_message_id(world: World) -> None:
    invoice = send(world)
    address = "ben@example.net"
    at = world.clock() + timedelta(seconds=40)
    classic = ses_message(
        "classic-bounce-permanent-with-dsn.awsdocs.json",
        message_id_for(world, address),
        address,
        tags=None,
        at=iso(at),
    )
    assert "tags" not in classic["mail"]
    assert process(world, classic) == outcome(processed=1)
    after = stored(world, invoice.id)
    assert [r.status for r in after.recipients] == ["sent", "bounced", "sent"]
    ben = after.recipients[1]
    assert ben.bounced_at == iso(at)
    assert ben.bounce == {
        "type": "Permanent",
        "subtype": "General",
        "diagnostic": "smtp; 550 5.1.1 <jane@example.com>... User",
    }
    [bounce] = facts_of(world, invoice.id, "bounce")
    assert bounce.recipient_id == ben.id


@pytest.mark.parametrize(("user_agent", "person", "machine"), [(UA_MPP, 0, 1), (UA_IOS_MAIL, 1, 0)])
def test_ses_open_and_pixel_open_of_one_fetch_count_once(
    world: World, user_agent: str, person: int, machine: int
) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    assert open_pixel(world, "ana@example.com", ua=user_agent)
    message = ses_open(
        world, invoice, "ana@example.com", world.clock() + timedelta(seconds=20), user_agent
    )
    assert process(world, message) == outcome(processed=1)
    assert counts(world, invoice.id) == [(person, machine)]
    assert [e.source for e in facts_of(world, invoice.id, "open")] == ["pixel", "ses"]


def test_an_ses_open_counts_when_sobres_tracking_is_off(world: World) -> None:
    invoice = send(world, "ana@example.com", tracking=False)
    world.clock.advance(minutes=30)
    assert process(
        world, ses_open(world, invoice, "ana@example.com", world.clock(), UA_IOS_MAIL)
    ) == (outcome(processed=1))
    [ana] = stored(world, invoice.id).recipients
    assert (ana.open_count, ana.status, ana.first_opened_at) == (1, "opened", iso(world.clock()))


# -- the hosted invoice -------------------------------------------------------------------


def test_fetching_the_hosted_invoice_records_a_judged_view(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(hours=1)
    token = link_token(world, invoice, "ana@example.com")
    hosted = tracking_service.view_invoice(world.ctx, token, fetch(request="v1"))
    assert hosted is not None
    assert (hosted.invoice.id, hosted.recipient.email, hosted.account.id) == (
        invoice.id,
        "ana@example.com",
        "acme",
    )
    [view] = facts_of(world, invoice.id, "view")
    assert (view.key, view.at, view.recipient_id) == (
        "view-v1",
        iso(world.clock()),
        hosted.recipient.id,
    )
    assert view.details["verdict"] == "human"
    # A fetch of the page is not a display: the recipient is not "viewed" yet.
    assert stored(world, invoice.id).recipients[0].status == "sent"
    assert tracking_service.view_invoice(world.ctx, token[:-2] + "xx", fetch()) is None


def test_the_hosted_invoice_without_tracking_records_nothing(world: World) -> None:
    invoice = send(world, "ana@example.com", tracking=False)
    puts = world.invoices.fact_puts
    token = link_token(world, invoice, "ana@example.com")
    assert tracking_service.view_invoice(world.ctx, token, fetch()) is not None
    assert world.invoices.fact_puts == puts
    assert facts_of(world, invoice.id, "view") == []


def test_confirm_view_by_a_person_makes_the_recipient_viewed(world: World) -> None:
    invoice = send(world, "ana@example.com", "ben@example.net")
    world.clock.advance(hours=1)
    ana, ben = (link_token(world, invoice, a) for a in ("ana@example.com", "ben@example.net"))
    shown_at = iso(world.clock())
    nonces = {}
    for token, ua, load in ((ana, UA_SAFARI, "l1"), (ben, "python-requests/2.31", "l2")):
        hosted = tracking_service.view_invoice(world.ctx, token, fetch(ua=ua, request=load))
        assert hosted is not None
        nonces[token] = hosted.beacon_nonce
    world.clock.advance(seconds=4)
    seen = fetch(request="c1")
    assert tracking_service.confirm_view(world.ctx, ana, nonces[ana], seen) is True
    bot = fetch(ua="python-requests/2.31", request="c2")
    assert tracking_service.confirm_view(world.ctx, ben, nonces[ben], bot) is True
    after = stored(world, invoice.id)
    assert [r.status for r in after.recipients] == ["viewed", "sent"]
    assert after.recipients[0].viewed_at == shown_at  # the display began with the load
    assert (after.recipients[1].viewed_at, after.status) == (None, "viewed")
    assert [e.details["verdict"] for e in facts_of(world, invoice.id, "viewed")] == [
        "human",
        "scanner",
    ]
    assert tracking_service.confirm_view(world.ctx, "forged", nonces[ana], fetch()) is False


def test_the_hosted_pdf_is_a_short_lived_link_to_its_key(world: World) -> None:
    invoice = send(world, "ana@example.com", pdf_base64=base64.b64encode(PDF).decode())
    url = tracking_service.hosted_pdf_url(world.ctx, link_token(world, invoice, "ana@example.com"))
    assert url == world.pdfs.url(pdf_key(invoice), tracking_service.PDF_LINK_SECONDS)
    assert tracking_service.hosted_pdf_url(world.ctx, "forged") is None


# -- alerts -------------------------------------------------------------------------------


class Outbox:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def record(self, alerts: list[Alert], recorded_at: datetime) -> None:
        self.alerts.extend(alerts)


def test_alerts_are_recorded_on_crossings_only(world: World) -> None:
    outbox = Outbox()
    world.ctx = dataclasses.replace(world.ctx, alerts=outbox)
    invoice = send(world, "ana@example.com", "ben@example.net")
    assert outbox.alerts == []  # sending crosses to nothing alerted
    assert process(world, tagged(world, invoice, DELIVERY, "ana@example.com")) == outcome(
        processed=1
    )
    assert outbox.alerts == []
    world.clock.advance(hours=2)
    assert open_pixel(world, "ana@example.com", request="r1")
    ana = stored(world, invoice.id).recipients[0]
    [opened] = outbox.alerts
    assert (opened.type, opened.recipient_id, opened.at) == (
        "invoice.opened",
        ana.id,
        ana.first_opened_at,
    )
    world.clock.advance(minutes=5)
    assert open_pixel(world, "ana@example.com", request="r2")  # a repeat: no crossing
    assert open_pixel(world, "ben@example.net", ua=UA_MPP)  # a machine's: no crossing
    bounce = tagged(world, invoice, BOUNCE, "ben@example.net")
    assert process(world, bounce) == outcome(processed=1)
    assert process(world, bounce) == outcome(duplicate=1)
    assert [a.type for a in outbox.alerts] == ["invoice.opened", "invoice.bounced"]
    assert outbox.alerts[1].recipient_id == invoice.recipients[1].id


# -- exactly once: a crash between the fact write and the counters write -------------------


def test_a_pixel_fact_retried_after_a_crash_counts_once(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    target = world.ctx.signer.verify(link_token(world, invoice, "ana@example.com"), "view")
    assert target is not None
    fact = pixel_open(target, world.clock(), UA_IOS_MAIL, IP, "GET", "r1")
    world.invoices.fail_counts = 1
    with pytest.raises(Unavailable):
        recording.record_fetch(world.ctx, invoice.id, fact)
    assert len(facts_of(world, invoice.id, "open")) == 1  # the fact was kept ...
    assert counts(world, invoice.id) == [(0, 0)]  # ... and not counted yet
    retried = recording.record_fetch(world.ctx, invoice.id, fact)
    assert retried is not None
    assert retried.changed is True
    again = recording.record_fetch(world.ctx, invoice.id, fact)
    assert again is not None
    assert again.changed is False
    [ana] = stored(world, invoice.id).recipients
    assert (ana.open_count, ana.machine_open_count) == (1, 0)
    assert (ana.status, ana.first_opened_at) == ("opened", fact.at)
    assert len(facts_of(world, invoice.id, "open")) == 1


def test_a_retry_counts_the_fact_as_kept_even_when_judged_again_since(world: World) -> None:
    """The retry (or the fallback queue's copy) of a fetch whose fact was kept but not
    counted, after a later fetch re-judged that fact: it counts what was kept, not its
    own new verdict, so the counters stay the sum of the facts' verdicts."""
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    target = world.ctx.signer.verify(link_token(world, invoice, "ana@example.com"), "view")
    assert target is not None
    opened = pixel_open(target, world.clock(), UA_SAFARI, IP, "GET", "r1")
    world.invoices.fail_counts = 1
    with pytest.raises(Unavailable):
        recording.record_fetch(world.ctx, invoice.id, opened)
    world.clock.advance(seconds=1)
    click = fetch_fact("click", target, world.clock(), fetch())
    recording.record_fetch(world.ctx, invoice.id, click)  # a burst: the open is a scanner's
    [kept] = facts_of(world, invoice.id, "open")
    assert (kept.details["verdict"], kept.revision) == ("scanner", 1)
    retried = recording.record_fetch(world.ctx, invoice.id, opened)
    assert retried is not None
    assert counts(world, invoice.id) == [(0, 1)]  # the open once, as a machine's
    assert recording.record_fetch(world.ctx, invoice.id, opened) is not None
    assert counts(world, invoice.id) == [(0, 1)]
    [ana] = stored(world, invoice.id).recipients
    assert (ana.first_opened_at, ana.status) == (None, "sent")


def test_an_ses_open_retried_after_a_crash_counts_once(world: World) -> None:
    invoice = send(world, "ana@example.com", tracking=False)  # SES's opens count
    world.clock.advance(minutes=30)
    message = ses_open(world, invoice, "ana@example.com", world.clock(), UA_MPP)
    world.invoices.fail_counts = 1
    with pytest.raises(Unavailable):  # Lambda retries the whole event
        process(world, message)
    assert counts(world, invoice.id) == [(0, 0)]
    assert process(world, message) == outcome(processed=1)
    assert process(world, message) == outcome(duplicate=1)
    assert counts(world, invoice.id) == [(0, 1)]
    [ana] = stored(world, invoice.id).recipients
    assert ana.first_machine_open_at == iso(world.clock())
    assert len(facts_of(world, invoice.id, "open")) == 1


# -- late facts re-judge earlier verdicts -------------------------------------------------


def open_then_late_delivery(w: World) -> Invoice:
    """A person's open a minute after sending, then SES's Delivery saying the mail
    arrived two seconds before it: the open was a gateway's, too fast to be a person."""
    invoice = send(w, "ana@example.com")
    sent = w.clock()
    w.clock.advance(seconds=60)
    assert open_pixel(w, "ana@example.com")
    assert counts(w, invoice.id) == [(1, 0)]
    assert stored(w, invoice.id).recipients[0].status == "opened"
    late = tagged(w, invoice, DELIVERY, "ana@example.com", at=sent + timedelta(seconds=58))
    assert process(w, late) == outcome(processed=1)
    return invoice


def test_a_late_delivery_rejudges_an_open_too_soon_after_it(world: World) -> None:
    invoice = open_then_late_delivery(world)
    [ana] = stored(world, invoice.id).recipients
    assert (ana.open_count, ana.machine_open_count) == (0, 1)
    assert (ana.first_opened_at, ana.first_machine_open_at) == (None, iso(world.clock()))
    assert (ana.status, ana.delivered_at) == (
        "delivered",
        iso(world.clock() - timedelta(seconds=2)),
    )
    [opened] = facts_of(world, invoice.id, "open")
    assert opened.details["verdict"] == "scanner"
    assert "timing:too-fast" in opened.details["reasons"]
    assert opened.revision == 1


def test_a_rejudged_open_is_no_longer_the_last_open(world: World) -> None:
    invoice = open_then_late_delivery(world)
    [ana] = stored(world, invoice.id).recipients
    assert ana.open_count == 0
    assert ana.last_opened_at is None


@pytest.mark.parametrize("kind", ["view", "click"])
def test_a_link_fetch_within_the_burst_window_makes_the_open_a_scanners(
    world: World, kind: str
) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    assert open_pixel(world, "ana@example.com", ua=UA_SAFARI)
    assert counts(world, invoice.id) == [(1, 0)]
    world.clock.advance(seconds=1)
    token = link_token(world, invoice, "ana@example.com")
    if kind == "view":
        assert tracking_service.view_invoice(world.ctx, token, fetch()) is not None
    else:
        target = world.ctx.signer.verify(token, "view")
        assert target is not None
        recording.record_fetch(
            world.ctx, invoice.id, fetch_fact("click", target, world.clock(), fetch())
        )
    verdicts = {
        e.type: e.details["verdict"]
        for e in facts_of(world, invoice.id)
        if e.type in ("open", kind)
    }
    assert verdicts == {"open": "scanner", kind: "scanner"}
    [ana] = stored(world, invoice.id).recipients
    assert (ana.open_count, ana.machine_open_count, ana.click_count) == (0, 1, 0)
    assert (ana.first_opened_at, ana.status) == (None, "sent")


# -- repeat opens -------------------------------------------------------------------------


def test_a_thousand_repeat_opens_only_change_the_counters(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(hours=1)
    first = iso(world.clock())
    assert open_pixel(world, "ana@example.com", request="r-first")
    summary, saves = summary_item(world, invoice.id), world.invoices.saves
    size = len(json.dumps(dataclasses.asdict(summary)))
    for number in range(1000):
        world.clock.advance(seconds=61)
        assert open_pixel(world, "ana@example.com", request=f"r{number}")
    assert world.invoices.saves == saves
    assert summary_item(world, invoice.id) == summary
    assert len(json.dumps(dataclasses.asdict(summary_item(world, invoice.id)))) == size
    [ana] = stored(world, invoice.id).recipients
    assert (ana.open_count, ana.machine_open_count) == (1001, 0)
    assert (ana.first_opened_at, ana.last_opened_at) == (first, iso(world.clock()))
    assert len(facts_of(world, invoice.id, "open")) == 1001
    detail = views.invoice_detail(stored(world, invoice.id))
    assert "events" not in detail
    assert detail["last_activity_at"] == iso(world.clock())


# -- reclassify ---------------------------------------------------------------------------


def test_reclassify_recounts_from_the_facts(world: World) -> None:
    invoice = send(world, "ana@example.com", "ben@example.net")
    world.clock.advance(hours=1)
    assert open_pixel(world, "ana@example.com", request="r1")
    world.clock.advance(minutes=10)
    assert open_pixel(world, "ana@example.com", request="r2")
    assert open_pixel(world, "ben@example.net", ua=UA_MPP, request="r3")
    expected = counts(world, invoice.id)
    # The rules changed since Ben's open was judged (here: its verdict tampered with),
    # and the counters drifted.
    [ben_open] = [e for e in facts_of(world, invoice.id, "open") if e.key == "px-r3"]
    stale = dataclasses.replace(ben_open, details={**ben_open.details, "verdict": "human"})
    world.invoices.facts[invoice.id][f"{stale.at}#{stale.key}"] = stale
    for recipient in invoice.recipients:
        world.invoices.replace_counters(invoice.id, recipient.id, Tally(open_count=7), 0)
    assert counts(world, invoice.id) == [(7, 0), (7, 0)]
    result = tracking_service.reclassify(world.ctx, [invoice.id, "inv_" + "z" * 26])
    assert result == {"invoices": 1, "changed": 1}
    assert counts(world, invoice.id) == expected
    after = stored(world, invoice.id)
    assert [r.status for r in after.recipients] == ["opened", "sent"]
    assert after.recipients[1].first_opened_at is None
    verdicts = {e.key: e.details["verdict"] for e in facts_of(world, invoice.id, "open")}
    assert verdicts == {"px-r1": "human", "px-r2": "human", "px-r3": "privacy_prefetch"}
    assert tracking_service.reclassify(world.ctx, [invoice.id]) == {"invoices": 1, "changed": 0}
    assert counts(world, invoice.id) == expected


def test_reclassify_judges_a_burst_the_write_path_left_alone(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    assert open_pixel(world, "ana@example.com", ua=UA_SAFARI)
    world.clock.advance(seconds=1)
    token = link_token(world, invoice, "ana@example.com")
    assert tracking_service.view_invoice(world.ctx, token, fetch()) is not None
    assert tracking_service.reclassify(world.ctx, [invoice.id])["invoices"] == 1
    [ana] = stored(world, invoice.id).recipients
    assert (ana.open_count, ana.machine_open_count) == (0, 1)
    assert (ana.first_opened_at, ana.status) == (None, "sent")
    assert {
        e.details["verdict"] for e in facts_of(world, invoice.id) if e.type in ("open", "view")
    } == {"scanner"}


# -- concurrent writers -------------------------------------------------------------------


class RacingInvoiceStore(FakeInvoiceStore):
    """Runs ``race`` once, just before the next summary write: another Lambda that read
    the same summary wins the write, and this one then loses its optimistic lock."""

    def __init__(self) -> None:
        super().__init__()
        self.race: Callable[[], object] | None = None

    def save_summary(self, invoice: Invoice) -> None:
        race, self.race = self.race, None
        if race is not None:
            race()
        super().save_summary(invoice)


def racing_world() -> tuple[World, RacingInvoiceStore]:
    invoices = RacingInvoiceStore()
    w = make_world()
    w.invoices = invoices
    w.ctx = make_context(
        invoices=invoices,
        accounts=w.accounts,
        unprocessed=w.unprocessed,
        mailer=w.mailer,
        pdfs=w.pdfs,
        metrics=w.metrics,
        clock=w.clock,
    )
    w.accounts.put_account(acme())
    return w, invoices


def test_a_lost_race_is_retried_and_both_changes_are_kept() -> None:
    w, invoices = racing_world()
    invoice = send(w)
    ana = tagged(w, invoice, DELIVERY, "ana@example.com")
    ben = tagged(w, invoice, DELIVERY, "ben@example.net")
    other: list[dict[str, int]] = []
    invoices.race = lambda: other.append(process(w, ben))
    assert process(w, ana) == outcome(processed=1)
    assert other == [outcome(processed=1)]
    assert invoices.conflicts == 1
    assert [r.status for r in stored(w, invoice.id).recipients] == [
        "delivered",
        "delivered",
        "sent",
    ]


def test_the_same_event_delivered_twice_concurrently_is_counted_once() -> None:
    w, invoices = racing_world()
    invoice = send(w)
    delivery = tagged(w, invoice, DELIVERY, "ana@example.com")
    saves = invoices.saves
    invoices.race = lambda: process(w, delivery)
    process(w, delivery)
    assert (invoices.saves - saves, invoices.conflicts) == (1, 1)  # the loser writes nothing
    assert len(facts_of(w, invoice.id, "delivery")) == 1
    assert stored(w, invoice.id).recipients[0].status == "delivered"


def test_save_with_a_stale_version_raises_concurrent_update(world: World) -> None:
    invoice = send(world)
    first = world.invoices.get_summary(invoice.id)
    second = world.invoices.get_summary(invoice.id)
    assert first is not None
    assert second is not None
    assert first.version == second.version == invoice.version
    first.customer_name = "Renamed"
    world.invoices.save_summary(first)
    assert first.version == (second.version or 0) + 1
    with pytest.raises(ConcurrentUpdate):
        world.invoices.save_summary(second)
    assert world.invoices.get_summary(invoice.id) == first
    assert world.invoices.create(copy.deepcopy(invoice)) is False
