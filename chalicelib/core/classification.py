"""Who fetched the pixel (or the link, or the hosted invoice): a person or a machine.

Every fetch gets a verdict, a confidence and the reasons that led to it. Pure: the
verdict is a function of the signals kept with the fetch (user agent, network of
origin, method, time) and of the recipient's other facts (send and delivery times,
the other fetches of the same message), so it can be recomputed whenever a fact
arrives late or the rules change (``make reclassify``).

Verdicts:

* ``human``: a person's mail client or browser displayed it.
* ``proxy``: a webmail image proxy (Gmail, Yahoo) fetched it because a person opened
  the mail; it counts as a person, and repeat opens hide behind the proxy's cache.
* ``privacy_prefetch``: fetched with no user action (Apple Mail Privacy Protection).
* ``scanner``: security gateways, link scanners, preview bots, headless browsers,
  HTTP libraries.
* ``sender``: the account's own preview.
* ``unknown``: not enough to say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from chalicelib.core.agents import identify
from chalicelib.core.networks import network_family

Verdict = Literal["human", "proxy", "privacy_prefetch", "scanner", "sender", "unknown"]
VERDICTS: tuple[Verdict, ...] = (
    "human",
    "proxy",
    "privacy_prefetch",
    "scanner",
    "sender",
    "unknown",
)
PERSON_VERDICTS: frozenset[str] = frozenset({"human", "proxy"})
FetchKind = Literal["open", "click", "view"]

# A person needs a few seconds to get from a delivered mail to its images; gateways
# fetch within a second or two of delivery (Invoice Ninja drops opens within 3 s of
# delivery; Microsoft's Safe Links detonation fetches within about a minute, and is
# known by its network). Only the delivery time is used: the send time says nothing
# about when the mail reached the mailbox.
TOO_FAST_AFTER_DELIVERY = timedelta(seconds=3)
# Following a link takes longer than loading images: open the mail, read, click.
TOO_FAST_LINK_AFTER_DELIVERY = timedelta(seconds=10)
SCANNER_NETWORK_WINDOW = timedelta(minutes=5)
# A gateway sweeps the pixel and the links of a message at once: the pixel and a link
# fetched within two seconds of each other. A mail client fetching the same pixel twice
# on one display, or a click and the page it leads to, is not a burst.
BURST_WINDOW = timedelta(seconds=2)
BURST_SIZE = 2
# A cloud network (tools/refresh_networks.py: AWS, Azure, Google Cloud, ...) is where
# gateways and sandboxes run; they fetch 14-45 s after delivery, past the timing rules
# above. A person can read mail from a cloud desktop or a VPN, so only the first fetch
# soon after delivery counts against it.
CLOUD_NETWORK_WINDOW = timedelta(minutes=2)
# A link scanner replays a person's click seconds later from its own network
# (resend/resend-node#901): a click or page load this soon after a person's fetch, from
# another network than theirs, is the scanner, not the person again.
REPLAY_WINDOW = timedelta(seconds=60)
# Kinds of network (tools/refresh_networks.py) whose fetches are machines: security
# vendors' and crawlers' own networks always, Microsoft's mail service soon after
# delivery, clouds on a first fetch soon after delivery.
_MACHINE_NETWORK_KINDS = frozenset({"security", "gateway", "crawler", "cloud"})


@dataclass(frozen=True)
class FetchSignals:
    """What is known about one fetch when it is judged."""

    kind: FetchKind
    at: datetime
    user_agent: str | None
    network: str | None  # the truncated network as stored, e.g. "203.0.113.0/24"
    method: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    burst: int  # targets (pixel, link) of the message fetched within BURST_WINDOW
    repeat: bool  # an earlier fetch of the same message was judged a person's
    from_sender: bool = False  # the account's own preview
    # Since the latest earlier fetch judged a person's, and that fetch's network, when
    # known (status.judge knows them for the fetches it reads together).
    since_person: timedelta | None = None
    person_network: str | None = None


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    confidence: float
    reasons: tuple[str, ...]

    @property
    def is_person(self) -> bool:
        return self.verdict in PERSON_VERDICTS


# A rule's finding: the verdict, its confidence and the reasons that decided it.
_Finding = tuple[Verdict, float, tuple[str, ...]]


def classify(signals: FetchSignals) -> Judgement:
    """The verdict for one fetch. Rules run from the most to the least decisive: what
    the request itself says, then a user agent that names its maker, then how a mail
    client or browser behaved (network, bursts, timing)."""
    ua = (signals.user_agent or "").strip()
    family = network_family(signals.network)
    network = (family.label, family.kind) if family else None
    context = _context_reasons(signals, network[0] if network else None)
    verdict, confidence, reasons = (
        _announced(signals, ua, network) or _named(ua) or _by_behaviour(signals, ua, network)
    )
    return Judgement(verdict, round(confidence, 2), tuple(dict.fromkeys((*reasons, *context))))


_Network = tuple[str, str] | None  # (label, kind) of a known network


def _announced(signals: FetchSignals, ua: str, network: _Network) -> _Finding | None:
    """The account's own preview, a HEAD request, Apple's privacy prefetch."""
    if signals.from_sender:
        return "sender", 0.95, ("sender-preview",)
    if (signals.method or "GET").upper() == "HEAD":
        return "scanner", 0.9, ("method:head",)
    if ua == "Mozilla/5.0":
        # Apple's relay announces itself with nothing but this.
        confidence = 0.97 if network and network[1] == "relay" else 0.9
        return "privacy_prefetch", confidence, ("ua:apple-mail-privacy-protection",)
    return None


def _named(ua: str) -> _Finding | None:
    """A user agent that names an image proxy or a machine, or no user agent at all."""
    if not ua:
        return "unknown", 0.5, ("ua:missing",)
    agent = identify(ua)
    if agent.kind == "proxy":
        return "proxy", 0.95, (f"ua:image-proxy:{agent.name}",)
    if agent.kind == "machine" and agent.source == "rule":
        return "scanner", 0.95, (f"ua:scanner:{agent.name}",)
    if agent.kind == "machine":
        # Named by the maintained lists (or by its shape): which one, and what it says.
        return "scanner", 0.9, (f"ua:bot:{agent.source}:{agent.name}",)
    return None


def _by_behaviour(signals: FetchSignals, ua: str, network: _Network) -> _Finding:
    """A mail client or browser: a person, unless its network, a burst or its timing
    says a gateway drove it."""
    agent = identify(ua)
    client = f"ua:client:{agent.name}"
    machine_network = _machine_network(signals, network)
    if machine_network:
        return "scanner", 0.85, (machine_network, client)
    if _replays_a_person(signals):
        return "scanner", 0.8, ("replay-of-person", client)
    if signals.burst >= BURST_SIZE:
        return "scanner", 0.8, (f"burst:{signals.burst}", client)
    if _too_fast(signals):
        return "scanner", 0.7, ("timing:too-fast", client)
    if agent.kind == "unrecognised":
        return "unknown", 0.5, ("ua:unrecognised",)
    return "human", 0.9 if signals.repeat else 0.85, (client,)


def _machine_network(signals: FetchSignals, network: _Network) -> str | None:
    """The reason a known network makes this fetch a machine's, or None."""
    if network is None or network[1] not in _MACHINE_NETWORK_KINDS:
        return None
    label, kind = network
    if kind in ("crawler", "security"):
        return f"net:{label}"
    if kind == "gateway" and _within(signals, SCANNER_NETWORK_WINDOW):
        # Gateways such as Microsoft Defender use ordinary browser user agents.
        return f"net:{label}"
    if kind == "cloud" and not signals.repeat and _within(signals, CLOUD_NETWORK_WINDOW):
        return f"net:cloud:{label}"
    if signals.repeat and signals.kind != "open" and _soon_after_person(signals):
        # A gateway or cloud fetching a link a person has just followed: the replay.
        return f"replay-from:{label}"
    return None


def _soon_after_person(signals: FetchSignals) -> bool:
    return signals.since_person is None or signals.since_person <= REPLAY_WINDOW


def _replays_a_person(signals: FetchSignals) -> bool:
    """A click or page load seconds after a person's, from a network other than theirs."""
    return (
        signals.repeat
        and signals.kind != "open"
        and signals.since_person is not None
        and signals.since_person <= REPLAY_WINDOW
        and signals.network is not None
        and signals.person_network is not None
        and signals.network != signals.person_network
    )


def _within(signals: FetchSignals, window: timedelta) -> bool:
    start = signals.delivered_at or signals.sent_at
    return start is None or signals.at - start <= window


def _too_fast(signals: FetchSignals) -> bool:
    if signals.repeat or signals.delivered_at is None:
        return False
    limit = TOO_FAST_AFTER_DELIVERY if signals.kind == "open" else TOO_FAST_LINK_AFTER_DELIVERY
    return signals.at - signals.delivered_at <= limit


def _context_reasons(signals: FetchSignals, network: str | None) -> tuple[str, ...]:
    """Facts shown with every verdict, whatever decided it."""
    reasons = ["repeat-fetch" if signals.repeat else "first-fetch"]
    start = signals.delivered_at or signals.sent_at
    if start is not None:
        seconds = int((signals.at - start).total_seconds())
        anchor = "delivery" if signals.delivered_at else "send"
        reasons.append(f"after-{anchor}:{seconds}s")
    if network is not None:
        reasons.append(f"net:{network}")
    return tuple(dict.fromkeys(reasons))
