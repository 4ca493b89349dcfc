"""Hardening of the SES event path (issue 15, points 3, 4 and 8): strict types, events
bound to their tenant and their time, and nothing kept or raised with a whole IP. Over
the fakes of tests/fakes.py, from the real payloads in tests/fixtures/ses-events."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.core.model import TAG_ACCOUNT, TAG_RECIPIENT, CountChange, Invoice, TimelineEvent
from chalicelib.core.privacy import scrub_ips
from chalicelib.errors import Unavailable
from chalicelib.tracking import ses_service
from chalicelib.tracking.ses_events import Unprocessable, parse_notification
from tests.fakes import (
    FakeInvoiceStore,
    FakeUnprocessedStore,
    World,
    make_context,
    make_world,
)
from tests.unit.test_service import (
    BOUNCE,
    DELIVERY,
    SES_OPEN,
    acme,
    facts_of,
    globex,
    message_id_for,
    open_pixel,
    outcome,
    process,
    send,
    ses_message,
    stored,
    tagged,
    tags_for,
)

pytestmark = pytest.mark.disable_socket

CLICK = "sns-http-event-click.spatie.json"
COMPLAINT = "event-complaint.awsdocs.json"
ANA = "ana@example.com"


@pytest.fixture
def world() -> World:
    w = make_world()
    w.accounts.put_account(acme())
    w.accounts.put_account(globex())
    return w


def now(w: World) -> datetime:
    return w.clock()


def delay_message(w: World, invoice: Invoice) -> dict[str, Any]:
    """A DeliveryDelay, shaped as on the SES event-publishing examples page."""
    message: dict[str, Any] = tagged(w, invoice, "event-send.awsdocs.json", ANA, at=now(w))
    del message["send"]
    message["eventType"] = "DeliveryDelay"
    message["deliveryDelay"] = {
        "timestamp": message["mail"]["timestamp"],
        "delayType": "InternalFailure",
        "expirationTime": message["mail"]["timestamp"],
        "delayedRecipients": [{"emailAddress": ANA, "status": "4.0.0"}],
    }
    return message


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(message: dict[str, Any]) -> None:
        node = message
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


# (fixture, mutation): the wrong-typed messages the issue saw applied to a real invoice,
# and those it saw raise in the handler.
WRONG_TYPES: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "destination-string": ("event-send.awsdocs.json", _set("mail.destination", ANA)),
    "destination-object": ("event-send.awsdocs.json", _set("mail.destination", {"to": ANA})),
    "click-link-object": (CLICK, _set("click.link", {"href": "https://x.example"})),
    "recipients-abc": (DELIVERY, _set("delivery.recipients", "abc")),
    "recipients-123": (DELIVERY, _set("delivery.recipients", [123])),
    "processing-time-fast": (DELIVERY, _set("delivery.processingTimeMillis", "fast")),
    "user-agent-list": (SES_OPEN, _set("open.userAgent", ["Mozilla/5.0"])),
    "year-9999": (DELIVERY, _set("delivery.timestamp", "9999-12-31T23:59:59.999-05:00")),
    "year-0001": (DELIVERY, _set("delivery.timestamp", "0001-01-01T00:00:00.000+01:00")),
    "bounce-address-null": (BOUNCE, _set("bounce.bouncedRecipients.0.emailAddress", None)),
    "complaint-recipients-object": (COMPLAINT, _set("complaint.complainedRecipients", {})),
    "mail-timestamp-number": (DELIVERY, _set("mail.timestamp", 1476919264)),
}


def wrong(w: World, invoice: Invoice, case: str) -> dict[str, Any]:
    name, mutate = WRONG_TYPES[case]
    message: dict[str, Any] = tagged(w, invoice, name, ANA, at=now(w))
    mutate(message)
    return message


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_a_wrong_typed_event_is_kept_and_never_applied(world: World, case: str) -> None:
    invoice = send(world, ANA)
    before, facts = copy.deepcopy(world.invoices.invoices[invoice.id]), facts_of(world, invoice.id)
    message = wrong(world, invoice, case)
    with pytest.raises(Unprocessable):
        parse_notification(json.dumps(message))
    assert process(world, message) == outcome(unprocessable=1)
    assert world.invoices.invoices[invoice.id] == before
    assert facts_of(world, invoice.id) == facts
    [kept] = world.unprocessed.list_unprocessed(10)
    assert json.loads(json.loads(kept["payload"])["Sns"]["Message"])["mail"]


def test_a_delivery_delay_with_a_null_address_is_kept(world: World) -> None:
    invoice = send(world, ANA)
    message = delay_message(world, invoice)
    assert process(world, copy.deepcopy(message)) == outcome(processed=1)
    message["deliveryDelay"]["delayedRecipients"][0]["emailAddress"] = None
    message["deliveryDelay"]["timestamp"] = message["mail"]["timestamp"][:-4] + "999Z"
    assert process(world, message) == outcome(unprocessable=1)
    assert len(facts_of(world, invoice.id, "delivery_delay")) == 1


def test_deeply_nested_json_is_kept_not_raised(world: World) -> None:
    invoice = send(world, ANA)
    message = tagged(world, invoice, DELIVERY, ANA, at=now(world))
    text = json.dumps(message)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert process(world, text) == outcome(unprocessable=1)
    assert stored(world, invoice.id).recipients[0].status == "sent"


def test_a_well_formed_event_still_applies(world: World) -> None:
    invoice = send(world, ANA)
    assert process(world, tagged(world, invoice, DELIVERY, ANA, at=now(world))) == outcome(
        processed=1
    )
    assert stored(world, invoice.id).recipients[0].status == "delivered"


class BrokenStore(FakeInvoiceStore):
    """An invoice store whose fact put fails as told: a storage outage or a bug."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def add_fact(self, invoice_id: str, event: TimelineEvent, expires_at: int) -> bool:
        if event.type == "delivery":
            raise self.error
        return super().add_fact(invoice_id, event, expires_at)


def broken_world(error: Exception) -> World:
    w = make_world()
    store = BrokenStore(error)
    w.ctx = make_context(
        invoices=store,
        accounts=w.accounts,
        unprocessed=w.unprocessed,
        mailer=w.mailer,
        metrics=w.metrics,
        clock=w.clock,
    )
    w.invoices = store
    w.accounts.put_account(acme())
    return w


def test_a_failure_that_is_not_transient_is_kept_not_raised() -> None:
    w = broken_world(ValueError("the item is too large for 198.51.100.77"))
    invoice = send(w, ANA)
    assert process(w, tagged(w, invoice, DELIVERY, ANA, at=now(w))) == outcome(unprocessable=1)
    [kept] = w.unprocessed.list_unprocessed(10)
    assert "ValueError" in kept["reason"]
    assert "198.51.100.77" not in kept["reason"]


def test_a_transient_storage_failure_raises_without_any_address() -> None:
    w = broken_world(Unavailable("DynamoDB at 198.51.100.77 did not answer"))
    invoice = send(w, ANA)
    message = tagged(w, invoice, SES_OPEN, ANA, at=now(w))
    message["open"]["ipAddress"] = "198.51.100.77"
    delivery = tagged(w, invoice, DELIVERY, ANA, at=now(w))
    with pytest.raises(Unavailable) as raised:
        process(w, message, delivery)
    assert "198.51.100.77" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


# -- point 4: bound to the tenant and to the time ----------------------------------------


def untagged_account(w: World, invoice: Invoice, name: str, message_id: str) -> dict[str, Any]:
    tags = tags_for(invoice, ANA)
    del tags[TAG_ACCOUNT]
    return ses_message(name, message_id, ANA, tags, at=now(w).isoformat())


def test_a_forged_complaint_without_the_account_tag_is_ignored(world: World) -> None:
    invoice = send(world, ANA)
    forged = untagged_account(world, invoice, COMPLAINT, "forged-message-id")
    assert process(world, forged) == outcome(ignored=1)
    assert stored(world, invoice.id).recipients[0].status == "sent"


def test_without_the_account_tag_the_message_id_must_name_that_recipient(world: World) -> None:
    invoice = send(world, ANA, "ben@example.net")
    ben_message = message_id_for(world, "ben@example.net")
    forged = untagged_account(world, invoice, COMPLAINT, ben_message)  # tags name Ana
    assert process(world, forged) == outcome(ignored=1)
    genuine = untagged_account(world, invoice, COMPLAINT, message_id_for(world, ANA))
    assert process(world, genuine) == outcome(processed=1)
    assert [r.status for r in stored(world, invoice.id).recipients] == ["complained", "sent"]


def test_a_recipient_tag_of_another_invoice_is_ignored(world: World) -> None:
    invoice, other = send(world, ANA), send(world, ANA)
    first_message = world.mailer.sent_to(ANA)[0][0]
    tags = tags_for(invoice, ANA)
    del tags[TAG_ACCOUNT]
    tags[TAG_RECIPIENT] = other.recipients[0].id  # not the recipient of this message
    message = ses_message(COMPLAINT, first_message, ANA, tags, at=now(world).isoformat())
    assert process(world, message) == outcome(ignored=1)
    tags[TAG_RECIPIENT] = invoice.recipients[0].id
    message = ses_message(COMPLAINT, first_message, ANA, tags, at=now(world).isoformat())
    assert process(world, message) == outcome(processed=1)
    assert [stored(world, i.id).recipients[0].status for i in (invoice, other)] == [
        "complained",
        "sent",
    ]


@pytest.mark.parametrize(
    "shift",
    [timedelta(days=365 * 973), timedelta(minutes=16), -timedelta(hours=1, minutes=1)],
    ids=["year-2999", "16-minutes-ahead", "before-the-send"],
)
def test_an_event_outside_its_time_window_is_kept_not_applied(
    world: World, shift: timedelta
) -> None:
    invoice = send(world, ANA)
    message = tagged(world, invoice, DELIVERY, ANA, at=now(world) + shift)
    assert process(world, message) == outcome(unprocessable=1)
    assert stored(world, invoice.id).recipients[0].delivered_at is None
    [kept] = world.unprocessed.list_unprocessed(10)
    assert "time" in kept["reason"]


def test_an_event_inside_its_time_window_applies(world: World) -> None:
    invoice = send(world, ANA)
    message = tagged(world, invoice, DELIVERY, ANA, at=now(world) + timedelta(minutes=14))
    assert process(world, message) == outcome(processed=1)
    assert stored(world, invoice.id).recipients[0].delivered_at is not None


def test_a_kept_early_event_replays_once_its_time_has_come(world: World) -> None:
    invoice = send(world, ANA)
    message = tagged(world, invoice, DELIVERY, ANA, at=now(world) + timedelta(minutes=30))
    assert process(world, message) == outcome(unprocessable=1)
    [kept] = world.unprocessed.list_unprocessed(10)
    world.clock.advance(minutes=20)
    assert ses_service.replay_payload(world.ctx, kept["payload"]) == "processed"


# -- point 8: no whole IP kept or raised; the account's current settings -----------------


def test_scrub_ips_keeps_only_networks() -> None:
    text = (
        '{"ipAddress": "198.51.100.77", "v6": "2001:db8:1234:5678::9", '
        '"mapped": "::ffff:203.0.113.9", "zeros": "198.051.100.077", '
        '"ua": "Chrome/120.0.6099.109", "at": "2016-10-19T23:21:04.133Z"}'
    )
    scrubbed = scrub_ips(text)
    assert json.loads(scrubbed) == {
        "ipAddress": "198.51.100.0",
        "v6": "2001:db8:1234::",
        "mapped": "203.0.113.0",
        "zeros": "198.51.100.0",
        "ua": "Chrome/120.0.6099.109",
        "at": "2016-10-19T23:21:04.133Z",
    }
    assert scrub_ips(scrubbed) == scrubbed


def test_an_unprocessable_payload_is_kept_without_whole_ips(world: World) -> None:
    invoice = send(world, ANA)
    message = tagged(world, invoice, SES_OPEN, ANA, at=now(world))
    message["open"]["ipAddress"] = "198.51.100.77"
    message["open"]["userAgent"] = ["not", "a", "string"]
    message["mail"]["tags"]["ses:source-ip"] = ["2001:db8:1234:5678::9"]
    assert process(world, message, "not json, from 198.51.100.78") == outcome(unprocessable=2)
    kept = world.unprocessed.list_unprocessed(10)
    text = json.dumps(kept)
    for whole in ("198.51.100.77", "198.51.100.78", "2001:db8:1234:5678::9"):
        assert whole not in text
    records = [json.loads(k["payload"])["Sns"]["Message"] for k in kept]
    [inner] = [json.loads(m) for m in records if m.startswith("{")]
    assert inner["open"]["ipAddress"] == "198.51.100.0"


def test_turning_tracking_off_stops_recording_opens_of_invoices_already_sent(
    world: World,
) -> None:
    invoice = send(world, ANA)
    assert open_pixel(world, ANA, request="r1")
    account = acme()
    account.tracking = False
    world.accounts.put_account(account)
    world.clock.advance(minutes=5)
    assert not open_pixel(world, ANA, request="r2")
    assert len(facts_of(world, invoice.id, "open")) == 1


class TtlStore(FakeInvoiceStore):
    """Keeps the TTL every write carried, as the DynamoDB store writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[int] = []

    def add_fact(self, invoice_id: str, event: TimelineEvent, expires_at: int) -> bool:
        self.ttls.append(expires_at)
        return super().add_fact(invoice_id, event, expires_at)

    def count(self, invoice_id: str, change: CountChange, expires_at: int) -> bool:
        self.ttls.append(expires_at)
        return super().count(invoice_id, change, expires_at)


def ttl_world() -> tuple[World, TtlStore]:
    w = make_world()
    store = TtlStore()
    w.ctx = make_context(
        invoices=store,
        accounts=w.accounts,
        unprocessed=w.unprocessed,
        mailer=w.mailer,
        metrics=w.metrics,
        clock=w.clock,
    )
    w.invoices = store
    w.accounts.put_account(acme())
    return w, store


def test_a_shorter_account_retention_shortens_the_next_writes() -> None:
    w, store = ttl_world()
    invoice = send(w, ANA)
    created = datetime.fromisoformat(invoice.created_at.replace("Z", "+00:00"))
    account = acme()
    account.retention_days = 30
    w.accounts.put_account(account)
    w.clock.advance(minutes=5)
    store.ttls.clear()
    assert process(w, tagged(w, invoice, DELIVERY, ANA, at=now(w))) == outcome(processed=1)
    assert open_pixel(w, ANA)
    assert store.ttls
    assert set(store.ttls) == {int((created + timedelta(days=30)).timestamp())}
    assert w.invoices.invoices[invoice.id].retention_days == 30  # the summary's TTL follows


def test_retention_is_capped_from_the_send_whatever_the_activity() -> None:
    w, store = ttl_world()
    invoice = send(w, ANA)
    created = datetime.fromisoformat(invoice.created_at.replace("Z", "+00:00"))
    cap = int((created + timedelta(days=180)).timestamp())
    for _ in range(3):
        w.clock.advance(days=170)
        store.ttls.clear()
        open_pixel(w, ANA, request=f"r{w.clock().timestamp()}")
        assert store.ttls
        assert max(store.ttls) <= cap


class RefusingUnprocessedStore(FakeUnprocessedStore):
    def keep(self, received_at: str, reason: str, payload: str) -> str:
        raise ValueError(f"refused: {payload[:200]}")


def test_a_record_that_cannot_be_kept_raises_without_its_payload() -> None:
    w = make_world()
    w.ctx = make_context(
        invoices=w.invoices,
        accounts=w.accounts,
        unprocessed=RefusingUnprocessedStore(),
        mailer=w.mailer,
        clock=w.clock,
    )
    with pytest.raises(Unavailable) as raised:
        process(w, "not json, from 198.51.100.77")
    assert "ValueError" in str(raised.value)
    assert "198.51" not in str(raised.value)
    assert raised.value.__suppress_context__
