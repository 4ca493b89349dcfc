"""The dashboard's routes through Chalice's test client: the page and its files are
served with the right types, caching and Content-Security-Policy, only the dashboard's
own files are served, and no name reaches outside chalicelib/static."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from chalice.test import Client, HTTPResponse

from chalicelib.dashboard import routes as dashboard

STATIC = Path(dashboard.__file__).resolve().with_name("static")
INDEX = (STATIC / "index.html").read_text(encoding="utf-8")
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSETS = sorted(p.name for p in STATIC.iterdir() if p.suffix in TYPES)
MODULES = [name for name in ASSETS if name.endswith(".js")]
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'"]*?\bfrom\s*["']([^"']+)["']""", re.MULTILINE)
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def header(response: HTTPResponse, name: str) -> str:
    wanted = name.lower()
    return next(str(v) for k, v in response.headers.items() if k.lower() == wanted)


def policy(response: HTTPResponse) -> dict[str, list[str]]:
    directives = [d.split() for d in header(response, "Content-Security-Policy").split(";")]
    return {d[0]: d[1:] for d in directives if d}


def test_there_is_something_to_serve() -> None:
    assert {"app.js", "app.css", "icon.svg", "api.js", "i18n.js"} <= set(ASSETS)


@pytest.mark.parametrize("path", ["/", "/app"])
def test_the_page_with_a_strict_content_security_policy(client: Client, path: str) -> None:
    response = client.http.get(path)
    assert response.status_code == 200
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert response.body.decode("utf-8") == INDEX
    csp = policy(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["require-trusted-types-for"] == ["'script'"]
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & {v for vs in csp.values() for v in vs}
    assert header(response, "X-Content-Type-Options") == "nosniff"
    assert header(response, "Referrer-Policy") == "no-referrer"
    assert header(response, "X-Frame-Options") == "DENY"
    assert header(response, "Cache-Control") == "no-cache"


class PageParts(HTMLParser):
    """What the page loads and whether anything in it would need 'unsafe-inline'."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v and not v.startswith("#")]
        self.inline += [f"{tag} {k}" for k, _ in attrs if k == "style" or k.startswith("on")]
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self.scripts.append(named)
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("<script> body")


def test_the_page_has_no_inline_code_and_loads_only_its_own_files(client: Client) -> None:
    parts = PageParts()
    parts.feed(INDEX)
    assert parts.inline == []
    assert parts.scripts == [{"type": "module", "src": "app/assets/app.js"}]
    assert set(parts.urls) == {"app/assets/app.js", "app/assets/app.css", "app/assets/icon.svg"}
    for url in parts.urls:
        # Relative, so the page works under an API Gateway stage prefix (/api/) too.
        assert not url.startswith(("/", "http:", "https:", "//")), url
        assert client.http.get(f"/{url}").status_code == 200, url


@pytest.mark.parametrize("name", ASSETS)
def test_every_asset_is_served_with_its_type(client: Client, name: str) -> None:
    response = client.http.get(f"/app/assets/{name}")
    assert response.status_code == 200
    assert header(response, "Content-Type") == TYPES[Path(name).suffix]
    assert response.body.decode("utf-8") == (STATIC / name).read_text(encoding="utf-8")
    assert header(response, "Cache-Control") == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', header(response, "ETag"))
    assert header(response, "X-Content-Type-Options") == "nosniff"


def test_every_module_import_is_served_and_every_module_is_used(client: Client) -> None:
    imported: set[str] = set()
    for module in MODULES:
        for target in IMPORT.findall((STATIC / module).read_text(encoding="utf-8")):
            assert target.startswith("./"), f"{module} imports {target}: only our own modules"
            name = target.removeprefix("./")
            response = client.http.get(f"/app/assets/{name}")
            assert response.status_code == 200, f"{module} imports {target}"
            assert header(response, "Content-Type") == TYPES[".js"]
            imported.add(name)
    assert imported | {"app.js"} == set(MODULES)


@pytest.mark.parametrize("name", [*MODULES, "app.css"])
def test_no_html_sinks_eval_or_other_origins(name: str) -> None:
    """What the CSP (script-src 'self', Trusted Types with no policy) would refuse."""
    source = (STATIC / name).read_text(encoding="utf-8")
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert forbidden not in source, f"{name} uses {forbidden}"
    assert not re.search(r"\beval\(|new Function\(|setTimeout\(\s*['\"`]", source)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", source)
    assert re.findall(r"https?://[^\s'\"`)]+", source) in ([], [SVG_NAMESPACE])


def test_an_unchanged_file_is_not_sent_again(client: Client) -> None:
    first = client.http.get("/app/assets/app.js")
    etag = header(first, "ETag")
    again = client.http.get("/app/assets/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.body == b""
    assert header(again, "ETag") == etag
    listed = client.http.get("/app/assets/app.js", headers={"If-None-Match": f'"x", W/{etag}'})
    assert listed.status_code == 304
    other = client.http.get("/app/assets/app.js", headers={"If-None-Match": '"0123"'})
    assert other.status_code == 200
    assert other.body == first.body
    page = client.http.get("/")
    assert client.http.get("/", headers={"If-None-Match": header(page, "ETag")}).status_code == 304


@pytest.mark.parametrize(
    "name",
    [
        "nope.js",
        "index.html",  # the page is served at / only
        "APP.JS",
        "app.js.map",
        "..%2Fapi.py",
        "..%2F..%2Fapp.py",
        "%2e%2e%2fdashboard.py",
        "..%5Capi.py",
        "..",
        "%2E%2E",
        "dashboard.py",
        "app.js%00.css",
        "%2Fetc%2Fpasswd",
        ".app.js",
    ],
)
def test_unknown_names_and_traversal_are_404(client: Client, name: str) -> None:
    response = client.http.get(f"/app/assets/{name}")
    assert response.status_code == 404
    assert header(response, "Content-Type") == "text/plain; charset=utf-8"
    assert response.body == b"Not found"


@pytest.mark.parametrize("path", ["/app/assets/../api.py", "/app/assets/../../app.py"])
def test_dot_segments_reach_no_file(client: Client, path: str) -> None:
    response = client.http.get(path)
    assert response.status_code in (403, 404)
    assert b"def " not in response.body
    assert b"import" not in response.body


def test_only_plain_names_in_static_are_servable() -> None:
    servable = dashboard.asset_paths()
    assert set(servable) == set(ASSETS)
    assert all(path.parent == STATIC for path in servable.values())
    assert "index.html" not in servable
