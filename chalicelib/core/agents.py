"""What a user agent says about who fetched: a mail client, a browser, a webmail image
proxy, a machine (crawler, scanner, link preview, HTTP library, automation), or nothing
recognisable. Pure and cached per string (``identify``); see classification.py for how
the answer combines with the network and the timing.

Maintained detection data does most of the work, consulted only after the mail-client and
proxy rules (some lists flag Outlook, Apple Mail and image proxies as bots):
``crawler-user-agents`` (a maintained pattern list of crawlers, kept as its patterns alone
in chalicelib/data/crawler_patterns.json by tools/refresh_crawlers.py: ~1 ms to load,
~0.2 ms a string),
``device-detector`` (Matomo's parser: bots, HTTP libraries, mail clients, apps; ~1 s to
load its data, ~20 ms a string) and, last, ``crawlerdetect``. All load lazily. The common
pixel (Outlook, Apple Mail, Gmail's proxy, Apple's prefetch) never loads any of them; a
plain browser string loads only the pattern list (no library); the rest, rare, pay for
the parser once per container. bench/classifier.py measures it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Any, Literal

AgentKind = Literal["mail", "browser", "proxy", "machine", "unrecognised"]


@dataclass(frozen=True)
class Agent:
    kind: AgentKind
    name: str  # a short slug: "outlook", "gmail", "http-library", ...
    source: str  # what decided: "rule", "shape", "crawler-user-agents", "device-detector"


_PROXIES = (
    (re.compile(r"GoogleImageProxy|via ggpht\.com"), "gmail"),
    (re.compile(r"YahooMailProxy"), "yahoo"),
    # Seznam, Rambler, ukr.net and others name an image or mail proxy: "SeznamEmailProxy",
    # "(compatible; ImageProxy/6.0)", "(via proxy ...)".
    (re.compile(r"(?i)(image|e-?mail|mail)[ _-]?proxy|\(via [^)]*proxy"), "webmail"),
)
# Makers that name themselves: gateways, link scanners, previews of mail and chat apps,
# automation. The libraries below catch most machines; these are the ones they miss or
# that matter most to a mail tracker.
_SCANNERS = re.compile(
    r"(?i)\b(barracuda|mimecast|proofpoint|urldefense|linkprotect|spamexperts|safeweb|"
    r"bingpreview|gmail-content-sampling|yahoo link preview|fastmailua|skypeuripreview|"
    r"slack(bot|-imgproxy)|discordbot|telegrambot|whatsapp/[\d.]+ [a-z]$|viber|"
    r"line-poker|zoom(bot)?|teams|microsoftpreview|headless\w*|phantomjs|slimerjs|"
    r"jsdom|zombie\.js|cypress|selenium|puppeteer|playwright|webdriver|lighthouse)"
)
# A fake Edge 12 user agent with a second "Mozilla/5.0" appended, seen on instant
# opens and clicks from an unattributed scanner (jdavidbakr/mail-tracker#255).
_FAKE_EDGE = re.compile(r"(?i)Edge/12\.246 Mozilla/5\.0$")
_MAIL_CLIENTS = (
    (re.compile(r"Microsoft Outlook|ms-office|MSOffice|Microsoft Office/"), "outlook"),
    (re.compile(r"MacOutlook|Outlook-(iOS|Android)|Outlook-Express|Outlook/"), "outlook"),
    (re.compile(r"WindowsMail/|Windows[ -]Live[ -]Mail|WindowsLiveMail"), "windows-mail"),
    (
        re.compile(r"Thunderbird[/ ]|Betterbird/|Icedove/|SeaMonkey/|Iceape/|Spicebird/"),
        "thunderbird",
    ),
    (re.compile(r"^Mail/\d.*CFNetwork|^MobileMail/|^Apple ?Mail"), "apple-mail"),
    # Apple Mail renders with WebKit and, unlike Safari, adds no browser token at all.
    (
        re.compile(
            r"^Mozilla/5\.0 \((Macintosh|iPhone|iPad|iPod)[^)]*\) AppleWebKit/[\d.]+ "
            r"\(KHTML, like Gecko\)( Mobile/\w+)?$"
        ),
        "apple-mail",
    ),
    (re.compile(r"Android-Gmail/|GoogleMail/"), "gmail-app"),
    (
        re.compile(
            r"(?i)\b(eM ?Client|Airmail|Spark/|Postbox|Mailbird|Evolution/|KMail|Kontact|"
            r"Geary/|Superhuman|Nine/|Canary|Newton|BlueMail|Blue Mail|Spike|Mailspring|"
            r"Proton ?Mail|Tuta(nota)?|Zoho ?Mail|SamsungEmail|Samsung ?Email|K-9|"
            r"FairEmail|AquaMail|Aqua Mail|YahooMobileMail|Yahoo ?Mail|AOL ?Mail|"
            r"Mail ?Master|Foxmail|The Bat!|Claws Mail|Sylpheed|Mutt/|Alpine/|Lotus[ -]Notes|"
            r"IBM Notes|GroupWise|Trojita|Balsa/|Pegasus Mail|Eudora|Opera Mail|IncrediMail|"
            r"MailBar|Barca|Mimestream|Polymail|Missive|Shortwave|Edison|MailApp|Mail\.ru Agent|"
            r"NAVER ?Mail|Daum ?Mail|Windows ?Mail)"
        ),
        "mail-client",
    ),
)
# A mainstream browser, exactly as browsers write it: the platform, the engine, and only
# browser tokens after it. Anything more (a product token, "(compatible; ...)", a URL)
# goes to the detection libraries.
_BROWSER_PRODUCTS = (
    r"(Version|Chrome|Chromium|CriOS|FxiOS|EdgiOS|EdgA|Edg|Edge|OPR|OPT|Firefox|Safari|"
    r"Mobile|YaBrowser|SamsungBrowser|Vivaldi|Brave|UCBrowser|DuckDuckGo|Ddg|GSA|"
    r"MiuiBrowser|HuaweiBrowser|Whale|Silk|Focus|Herring|Avast|AVG|Norton|CCleaner|Sleipnir|"
    r"Puffin|Quark|Arc|Aloha)/[\w.]+"
)
_PLAIN_BROWSER = re.compile(
    r"^Mozilla/5\.0 \((?![^)]*compatible)[^()]+\) "
    r"(AppleWebKit/[\d.+]+ \(KHTML, like Gecko\)|Gecko/\d+)"
    rf"( {_BROWSER_PRODUCTS})+$"
)
# Words no browser or mail client puts in its user agent, and many machines do.
_MACHINE_WORDS = re.compile(
    r"(?i)(bot\b|bot/|bot;|crawl|spider|slurp|scan|preview|fetch|monitor|checker|scrap|"
    r"archiv|validator|probe|https?://|www\.|@|\+http|"
    r"http[-_ ]?client|library|uptime|pingdom|synthetic|capture|screenshot|render)"
)
# A browser string with a bare word appended ("... Safari/537.36 Nuclei"): scanners sign
# their browser-based fetches so; browsers append versioned tokens (and "Mobile").
_APPENDED_WORD = re.compile(
    r"^Mozilla/5\.0 \([^)]*\) (AppleWebKit/[\d.+]+ \(KHTML, like Gecko\)|Gecko/\d+).* "
    r"(?!Mobile$)[A-Za-z][A-Za-z_-]*$"
)
_MAIL_APP = re.compile(r"(?i)^[\w .%-]*(mail|inbox)[\w.%-]*[/ ]v?\d")
_CRAWLER_WORDS = re.compile(r"(?i)(bot\b|bot/|crawl|spider|https?://|\+http)")
# "(compatible; X)" without MSIE or Trident is how crawlers dress as browsers.
_COMPATIBLE = re.compile(r"\(compatible;?(?![^)]*(MSIE|Trident|ms-office|MSOffice))[^)]*\)")
_PERSON_APP_TYPES = frozenset({"browser", "mobile app", "pim", "desktop app", "media player"})


def identify(user_agent: str) -> Agent:
    """Who a (non-empty) user agent says it is."""
    return _identify(user_agent.strip())


@lru_cache(maxsize=8192)
def _identify(ua: str) -> Agent:
    return _by_name(ua) or _by_rules(ua) or _by_data(ua)


def _by_name(ua: str) -> Agent | None:
    """An image proxy or a machine that names itself."""
    for pattern, name in _PROXIES:
        if pattern.search(ua):
            return Agent("proxy", name, "rule")
    found = _SCANNERS.search(ua)
    if found:
        return Agent("machine", _slug(re.split(r"[/ ]", found.group(1))[0]), "rule")
    if _FAKE_EDGE.search(ua):
        return Agent("machine", "fake-edge", "rule")
    return None


def _by_rules(ua: str) -> Agent | None:
    """A mail client, or a browser exactly as browsers write themselves."""
    for pattern, name in _MAIL_CLIENTS:
        if pattern.search(ua):
            if _CRAWLER_WORDS.search(ua):
                # A crawler borrowing a mail client's name still gives its own address.
                return Agent("machine", "self-described", "shape")
            return Agent("mail", name, "rule")
    if _PLAIN_BROWSER.match(ua):
        # Crawlers dress as browsers down to the tokens; the platform part gives them
        # away (a URL, a bot's name) or the maintained list knows them.
        if _MACHINE_WORDS.search(ua):
            return Agent("machine", "self-described", "shape")
        listed = _listed_crawler(ua)
        if listed:
            return Agent("machine", _slug(listed), "crawler-user-agents")
        return Agent("browser", "browser", "shape")
    return None


def _by_data(ua: str) -> Agent:
    """What the maintained lists say about a string the rules did not settle."""
    listed = _listed_crawler(ua)
    if listed:
        return Agent("machine", _slug(listed), "crawler-user-agents")
    details = _device_detector(ua)
    if details["bot"]:
        return Agent("machine", _slug(details["bot"]), "device-detector")
    kind, name = details["type"], _slug(details["name"] or "other")
    if kind == "pim":
        return Agent("mail", name, "device-detector")
    if kind in ("library", "feed reader"):
        return Agent("machine", f"{kind.replace(' ', '-')}:{name}", "device-detector")
    if kind == "messaging" and not ua.startswith("Mozilla/"):
        # The chat app itself, not a web view inside it: the preview it makes of a link.
        return Agent("machine", f"preview:{name}", "device-detector")
    if _COMPATIBLE.search(ua) or _MACHINE_WORDS.search(ua) or _APPENDED_WORD.match(ua):
        return Agent("machine", "self-described", "shape")
    if _crawler_detect().isCrawler(ua):
        # CrawlerDetect also flags Outlook, Apple Mail and image proxies, which the rules
        # above have settled already: here it only sees what they and the lists left.
        return Agent("machine", "crawler", "crawlerdetect")
    if kind in _PERSON_APP_TYPES:
        return Agent("browser", name, "device-detector")
    if _MAIL_APP.match(ua):
        # A product no list knows that calls itself a mail app ("FooMail/2.1 ..."), and
        # that no list or word above calls a machine: new mail apps appear every year.
        return Agent("mail", name, "shape")
    return Agent("unrecognised", name, "device-detector")


# crawler-user-agents' patterns, in its order and chunks (tools/refresh_crawlers.py).
CRAWLER_PATTERNS_FILE = Path(__file__).resolve().parents[1] / "data" / "crawler_patterns.json"
# A pattern that is plain text once its escaped punctuation (``\/``, ``\.``) is unescaped.
_ESCAPED = re.compile(r"\\([^A-Za-z0-9])")
_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}]")

CrawlerChunk = tuple[str | re.Pattern[str], ...]


def plain_text(pattern: str) -> str | None:
    r"""The text a pattern matches when it is a literal (``Googlebot\/`` → ``Googlebot/``),
    else None (it has a class, an anchor, a group, a repeat or an alphanumeric escape)."""
    text = _ESCAPED.sub("", pattern)
    return None if _SPECIAL.search(text) else _ESCAPED.sub(r"\1", pattern)


@lru_cache(maxsize=1)
def crawler_chunks() -> tuple[CrawlerChunk, ...]:
    """The list as the library searches it: chunks of alternatives, each one a plain
    text or, for the few real expressions (36 of 1,504), a compiled pattern."""
    data = json.loads(CRAWLER_PATTERNS_FILE.read_text(encoding="utf-8"))
    patterns = [
        p if (p := plain_text(raw)) is not None else re.compile(raw) for raw in data["patterns"]
    ]
    size = int(data["chunk"])
    return tuple(tuple(patterns[i : i + size]) for i in range(0, len(patterns), size))


@lru_cache(maxsize=1)
def _crawler_detect() -> Any:
    return import_module("crawlerdetect").CrawlerDetect()  # lazy: see the module docstring


def _listed_crawler(ua: str) -> str | None:
    """The text a crawler-user-agents pattern matched (its name, for the reasons): what
    the library's search of its chunks finds, the first chunk with a match and there
    the leftmost match, the earlier alternative at the same place."""
    for chunk in crawler_chunks():
        best: tuple[int, str] | None = None
        for pattern in chunk:
            if isinstance(pattern, str):
                at = ua.find(pattern)
                if at >= 0 and (best is None or at < best[0]):
                    best = (at, pattern)
            elif (found := pattern.search(ua)) and (best is None or found.start() < best[0]):
                best = (found.start(), found.group(0))
        if best is not None:
            return best[1]
    return None


def _device_detector(ua: str) -> dict[str, str]:
    detector = import_module("device_detector").DeviceDetector  # lazy: see the docstring
    parsed = detector(ua, skip_device_detection=True).parse()
    bot = parsed.all_details.get("bot") or {}
    client = parsed.all_details.get("client") or {}
    kind = client.get("type")
    return {
        "bot": str(bot.get("name") or "bot") if parsed.is_bot() else "",
        "type": str(getattr(kind, "value", kind) or ""),
        "name": str(client.get("name") or ""),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9:]+", "-", text.lower()).strip("-")
