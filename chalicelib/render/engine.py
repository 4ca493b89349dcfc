"""The machinery every email and page Sobre renders shares: the Jinja2 environment over
chalicelib/templates, the CSS inliner, Babel locales and money formatting.

Jinja2, css_inline, MarkupSafe and Babel are imported lazily, on the first render, so
importing this module adds nothing to a Lambda cold start for the handlers that never
render; the environment, the inliner and resolved locales are cached per process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.render.translations import DEFAULT_LANGUAGE, STRINGS

if TYPE_CHECKING:
    from babel.core import Locale
    from css_inline import CSSInliner
    from jinja2 import Environment
    from markupsafe import Markup

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"

SUPPORTED_LANGUAGES: frozenset[str] = frozenset(STRINGS)


_DEFAULT_REGION_LOCALE: Mapping[str, str] = {"en": "en_US", "es": "es_ES"}


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email, ready to hand to the mail sender."""

    subject: str
    html: str
    text: str


def language_of(tag: str) -> str:
    """Supported language of a tag such as ``"es-ES"``; English when unsupported."""
    language = tag.strip().replace("-", "_").split("_", 1)[0].lower()
    return language if language in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


@functools.lru_cache(maxsize=64)
def babel_locale(tag: str) -> Locale:
    """Babel locale for formatting: the full tag when Babel knows it, else the default."""
    from babel.core import Locale, UnknownLocaleError

    language = language_of(tag)
    normalized = tag.strip().replace("-", "_")
    if "_" in normalized and normalized.split("_", 1)[0].lower() == language:
        try:
            return Locale.parse(normalized)
        except (ValueError, UnknownLocaleError):
            pass
    return Locale.parse(_DEFAULT_REGION_LOCALE[language])


def money(amount: Decimal, currency: str, locale: Locale, *, exact: bool = False) -> str:
    """Format money; rounded half-up to the currency's digits unless ``exact``."""
    from babel.numbers import format_currency, get_currency_precision

    if not exact:
        step = Decimal(1).scaleb(-get_currency_precision(currency))
        amount = amount.quantize(step, rounding=ROUND_HALF_UP)
    return format_currency(amount, currency, locale=locale, decimal_quantization=not exact)


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # Escape everything except the plain-text template.
        autoescape=jinja2.select_autoescape(
            disabled_extensions=("txt",), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["nl2br"] = _nl2br
    return env


@functools.lru_cache(maxsize=1)
def inliner() -> CSSInliner:
    import css_inline

    # keep_at_rules keeps the @media block in a <style> tag for clients that support it.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def _nl2br(value: str) -> Markup:
    """Escape ``value`` and turn its line breaks into ``<br>``."""
    from markupsafe import Markup, escape

    return Markup("<br>\n").join(escape(part) for part in value.splitlines())


def render(template: str, context: Mapping[str, object]) -> tuple[str, str]:
    """``<template>.html`` (CSS inlined) and ``<template>.txt``, rendered with ``context``."""
    env = environment()
    html = inliner().inline(env.get_template(f"{template}.html").render(context))
    return html, env.get_template(f"{template}.txt").render(context)


def local_datetime(at: str, time_zone: str, locale: Locale) -> str:
    """A stored (UTC) time as the reader's clock shows it, e.g. "3/2/26, 9:41 AM"."""
    from zoneinfo import ZoneInfo

    from babel.dates import format_datetime

    from chalicelib.core.model import parse_iso

    moment = parse_iso(at).astimezone(ZoneInfo(time_zone))
    return str(format_datetime(moment, format="short", locale=locale))
