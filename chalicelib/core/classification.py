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

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from chalicelib.core.networks import network_label

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
# Operators whose gateways fetch with ordinary browser user agents (core/networks.py).
_SCANNER_NETWORKS = frozenset({"microsoft", "barracuda", "mimecast", "proofpoint"})

_PROXY_TOKENS = (
    ("GoogleImageProxy", "gmail"),
    ("YahooMailProxy", "yahoo"),
    ("ImageProxy", "webmail"),  # Rambler and others: "(compatible; ImageProxy/6.0)"
)
_SCANNER_TOKENS = (
    ("Barracuda", "barracuda"),
    ("BingPreview", "bing-preview"),
    ("Gmail-content-sampling", "gmail-content-sampling"),
    ("Yahoo Link Preview", "yahoo-link-preview"),
    ("FastmailUA", "fastmail"),
    ("HeadlessChrome", "headless-chrome"),
    ("PhantomJS", "phantomjs"),
    ("Mimecast", "mimecast"),
    ("Proofpoint", "proofpoint"),
    ("urldefense", "proofpoint"),
    ("linkprotect", "barracuda"),
    ("Slackbot", "slack-preview"),
    ("Googlebot", "googlebot"),
    ("bingbot", "bingbot"),
    ("python-requests", "http-library"),
    ("python-urllib", "http-library"),
    ("aiohttp", "http-library"),
    ("Go-http-client", "http-library"),
    ("okhttp", "http-library"),
    ("Java/", "http-library"),
    ("curl/", "http-library"),
    ("Wget/", "http-library"),
    ("libwww-perl", "http-library"),
)
# A fake Edge 12 user agent with a second "Mozilla/5.0" appended, seen on instant
# opens and clicks from an unattributed scanner (jdavidbakr/mail-tracker#255).
_FAKE_EDGE = re.compile(r"Edge/12\.246 Mozilla/5\.0$")
_MAIL_CLIENTS = (
    (re.compile(r"Microsoft Outlook|ms-office|MSOffice"), "outlook"),
    (re.compile(r"MacOutlook"), "outlook-mac"),
    (re.compile(r"Outlook-(iOS|Android)"), "outlook-mobile"),
    (re.compile(r"WindowsMail/"), "windows-mail"),
    (re.compile(r"Thunderbird/"), "thunderbird"),
    (re.compile(r"^Mail/\d.*CFNetwork"), "apple-mail"),
    (re.compile(r"Android-Gmail/"), "gmail-android"),
    (re.compile(r"eM Client/"), "em-client"),
    (re.compile(r"Airmail|Spark/|Postbox/|Mailbird|Evolution/|KMail/"), "mail-client"),
)
# A browser or embedded web view: the ua-parser library names it (see _library_family).
_BROWSERISH = re.compile(r"^Mozilla/5\.0 \([^)]+\) (AppleWebKit|Gecko)/")
# Crawlers that dress as browsers name themselves somewhere: let the library decide.
_BOTLIKE = re.compile(r"bot|crawl|spider|slurp|inspection|preview|fetch", re.IGNORECASE)


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
    network = network_label(signals.network)
    context = _context_reasons(signals, network)
    verdict, confidence, reasons = (
        _announced(signals, ua, network) or _named(ua) or _by_behaviour(signals, ua, network)
    )
    return Judgement(verdict, round(confidence, 2), tuple(dict.fromkeys((*reasons, *context))))


def _announced(signals: FetchSignals, ua: str, network: str | None) -> _Finding | None:
    """The account's own preview, a HEAD request, Apple's privacy prefetch."""
    if signals.from_sender:
        return "sender", 0.95, ("sender-preview",)
    if (signals.method or "GET").upper() == "HEAD":
        return "scanner", 0.9, ("method:head",)
    if ua == "Mozilla/5.0":
        # Apple's relay announces itself with nothing but this.
        confidence = 0.97 if network == "apple" else 0.9
        return "privacy_prefetch", confidence, ("ua:apple-mail-privacy-protection",)
    return None


def _named(ua: str) -> _Finding | None:
    """A user agent that names an image proxy or a scanner, or no user agent at all."""
    for token, name in _PROXY_TOKENS:
        if token in ua:
            return "proxy", 0.95, (f"ua:image-proxy:{name}",)
    lowered = ua.lower()
    for token, name in _SCANNER_TOKENS:
        if token.lower() in lowered:
            return "scanner", 0.95, (f"ua:scanner:{name}",)
    if _FAKE_EDGE.search(ua):
        return "scanner", 0.9, ("ua:scanner:fake-edge",)
    if not ua:
        return "unknown", 0.5, ("ua:missing",)
    return None


def _by_behaviour(signals: FetchSignals, ua: str, network: str | None) -> _Finding:
    """A mail client or browser: a person, unless its network, a burst or its timing
    says a gateway drove it."""
    family = _client_family(ua)
    if family is None:
        return "scanner", 0.8, ("ua:bot",)
    client = f"ua:client:{family}"
    if network in _SCANNER_NETWORKS and _within(signals, SCANNER_NETWORK_WINDOW):
        # Gateways such as Microsoft Defender use ordinary browser user agents.
        return "scanner", 0.85, (f"net:{network}", client)
    if signals.burst >= BURST_SIZE:
        return "scanner", 0.8, (f"burst:{signals.burst}", client)
    if _too_fast(signals):
        return "scanner", 0.7, ("timing:too-fast", client)
    if family == "other":
        return "unknown", 0.5, ("ua:unrecognised",)
    return "human", 0.9 if signals.repeat else 0.85, (client,)


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


def _client_family(user_agent: str) -> str | None:
    """A short family name for a mail client or browser; "other" when unrecognised;
    None for a crawler. Mail clients and well-formed browser strings are recognised
    without loading the user-agent library, which costs ~0.1 s to warm up and would
    land on the pixel's cold start; anything else goes to the library."""
    for pattern, name in _MAIL_CLIENTS:
        if pattern.search(user_agent):
            return name
    if _BROWSERISH.match(user_agent) and not _BOTLIKE.search(user_agent):
        return "browser"
    return _library_family(user_agent)


@lru_cache(maxsize=4096)
def _library_family(user_agent: str) -> str | None:
    from ua_parser import parse  # lazy: see _client_family

    parsed = parse(user_agent)
    if parsed.device is not None and parsed.device.family == "Spider":
        return None
    if parsed.user_agent is not None and parsed.user_agent.family != "Other":
        return _slug(parsed.user_agent.family)
    return "other"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
