"""What a user agent says (chalicelib/core/agents.py): mail clients, browsers, webmail
proxies and machines, named by the rules, by their shape or by the maintained lists.
The strings are published ones (tests/fixtures/opens/ gives their sources) unless marked."""

from __future__ import annotations

import pytest

from chalicelib.core import agents
from chalicelib.core.agents import identify

pytestmark = pytest.mark.disable_socket

UA_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36"
)

PROXIES = [
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "gmail"),  # noqa: E501
    ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "yahoo"),
    ("RamblerMail/6.0 (incompatible; ImageProxy/6.0)", "webmail"),
    ("Mozilla/5.0 SeznamEmailProxy/2.0.174", "webmail"),
]  # fmt: skip


@pytest.mark.parametrize(("user_agent", "name"), PROXIES)
def test_webmail_image_proxies(user_agent: str, name: str) -> None:
    assert identify(user_agent) == agents.Agent("proxy", name, "rule")


MAIL = [
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)",  # noqa: E501
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; Microsoft Outlook 16.0.9126; ms-office; MSOffice 16)",  # noqa: E501
    "MacOutlook/16.46.21021202 (Intelx64 Mac OS X 11.2.2 (Build 20D80))",
    "Outlook-iOS/711.2304115.prod.iphone (3.26.0)",
    "Outlook-Express/7.0 (MSIE 7.0; Windows NT 6.1; WOW64; Trident/7.0; SLCC2)",
    "WindowsMail/17.5.9600.22013",
    "Mozilla/5.0 (X11; Linux x86_64; rv:24.0) Gecko/20100101 Thunderbird/24.4.0 Lightning/2.6.4",
    "Mozilla/5.0 (X11; Linux x86_64; rv:24.0) Gecko/20100101 Icedove/24.4.0 Lightning/2.6.5",
    "Mail/3445.4.7 CFNetwork/889.9 Darwin/17.2.0 (x86_64)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",  # noqa: E501
    "Android-Gmail/64562652 (sw411dp; 420dpi) (r7 TP1A.220624.014)",
    "Airmail 1.3.3 rv:237 (Macintosh; Mac OS X 10.9.2; en_US)",
    "The Bat! Voyager 4.0.18.4",
    "Superhuman",
    "Nine/4.5.3a",
    "Evolution/3.52.3",
    "Geary/40.0 (Linux; x86_64)",
    "BarcaPro/1.4 L.1001",  # named by device-detector's mail-client data, not by a rule
]  # fmt: skip


@pytest.mark.parametrize("user_agent", MAIL)
def test_mail_clients(user_agent: str) -> None:
    assert identify(user_agent).kind == "mail"


BROWSERS = [
    UA_CHROME,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/151.0.0.0 Safari/537.36 Edg/151.0.0.0",  # noqa: E501
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",  # noqa: E501
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",  # noqa: E501
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
    "Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.16",
    # An in-app web view with the app's reverse-DNS id (device-detector's fixtures).
    "Mozilla/5.0 (Linux; Android 7.0; VFD 1300 Build/NRD90M; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/59.0.3071.125 Safari/537.36 [air.com.A888poker/1.0]",  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize("user_agent", BROWSERS)
def test_browsers(user_agent: str) -> None:
    assert identify(user_agent).kind == "browser"


def test_a_plain_browser_is_settled_by_its_shape() -> None:
    assert identify(UA_CHROME) == agents.Agent("browser", "browser", "shape")


MACHINES = [
    # Named by the rules: gateways, previews, automation.
    ("Barracuda Sentinel (EE)", "rule"),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b", "rule"),  # noqa: E501
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Gmail-content-sampling", "rule"),  # noqa: E501
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0", "rule"),  # noqa: E501
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_1) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/62.0.3202.89 Safari/537.36", "rule"),  # noqa: E501
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "rule"),
    ("Mozilla/5.0 (X11; Linux aarch64) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/12.1.0 Chrome/106.0.5249.51 Electron/21.0.0 Safari/537.36", "rule"),  # noqa: E501
    # Named by crawler-user-agents.
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "crawler-user-agents"),
    ("python-requests/2.31.0", "crawler-user-agents"),
    ("curl/8.5.0", "crawler-user-agents"),
    ("facebookexternalhit/1.1", "crawler-user-agents"),
    # Named by device-detector: HTTP libraries and API tools.
    ("insomnia/2022.6.0", "device-detector"),
    ("Bun/1.2.10", "device-detector"),
    ("Deno/2.1.7", "device-detector"),
    # Dressed as a browser, given away by the platform part.
    ("Mozilla/5.0 (X11; Linux x86_64; GTmetrix https://gtmetrix.com/) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.106 Safari/537.36", "shape"),  # noqa: E501
    # A crawler borrowing a mail client's name (JayBizzle/Crawler-Detect crawlers.txt).
    ("Mozilla/5.0 (Windows; U; Windows NT 5.0; en-US; rv:1.7.10) Gecko/20050716 Thunderbird/1.0.6 - WebCrawler http://cognitiveseo.com/bot.html", "shape"),  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize(("user_agent", "source"), MACHINES)
def test_machines_and_who_named_them(user_agent: str, source: str) -> None:
    found = identify(user_agent)
    assert (found.kind, found.source) == ("machine", source)


@pytest.mark.parametrize("user_agent", [m for m, source in MACHINES if source == "rule"])
def test_the_rules_ignore_case(user_agent: str) -> None:
    assert identify(user_agent.lower()).kind == identify(user_agent.upper()).kind == "machine"


def test_a_browser_string_with_a_bare_word_appended_is_a_machine() -> None:
    # Made up: how scanners sign browser-based fetches. Browsers append versioned tokens.
    signed = UA_CHROME + " Nuclei"
    assert (identify(signed).kind, identify(signed).source) == ("machine", "shape")
    mobile = (  # matomo-org/device-detector Tests/fixtures/smartphone-*.yml
        "Mozilla/5.0 (Linux; Android 7.0; X425 Shavit Build/NRD90M) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/63.0.3239.111 Mobile"
    )
    assert identify(mobile).kind == "browser"


def test_a_machines_name_is_its_product_not_its_version() -> None:
    assert identify("WhatsApp/2.21.12.21 A").name == "whatsapp"


def test_the_real_edge_12_is_a_browser_the_fake_one_is_not() -> None:
    fake = next(m for m, _ in MACHINES if m.endswith("Edge/12.246 Mozilla/5.0"))
    assert identify(fake).name == "fake-edge"
    assert identify(fake.removesuffix(" Mozilla/5.0")).kind == "browser"


@pytest.mark.parametrize(
    "user_agent",
    [
        "HeyMail/2.3 CFNetwork/1410.0.3 Darwin/22.6.0",  # made up: a mail app no list knows
        "Mozilla Thunderbird 1.0",  # made up: another spelling of a known client
    ],
)
def test_mail_apps_no_list_knows_are_mail_clients(user_agent: str) -> None:
    assert identify(user_agent).kind == "mail"


@pytest.mark.parametrize("user_agent", ["UA", "SomethingElse/1.0", "x"])
def test_strings_nobody_knows_are_unrecognised(user_agent: str) -> None:
    assert identify(user_agent).kind == "unrecognised"


def test_results_are_cached_per_string() -> None:
    agents._identify.cache_clear()
    identify(UA_CHROME)
    identify(UA_CHROME)
    assert agents._identify.cache_info().hits == 1
