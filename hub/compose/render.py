"""Compose: a kind of mail and its context → subject, plain text and HTML, in the reader's language.

Each kind has two templates in `hub/compose/templates/` (package data, so an installed wheel renders
mail too): `KIND.txt` (plain text; sets `subject`) and `KIND.mjml` (Jinja2 inside MJML, autoescaped), both
extending a shared layout. An alliance overrides any of them by putting a file of the same name into its
`[templates] dir`, which is searched first.

Mass mail is composed once: per-recipient values stay as the outbox's `%%name%%` tokens, filled in at send
time, so one MJML compile serves every recipient of a newsletter issue.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import TypeVar

import jinja2
import mjml
import nh3
from babel.dates import format_date, format_datetime
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from hub.compose.compiled import html_from_mjml
from hub.compose.minify import minify
from hub.compose.structure import protocol_html
from hub.compose.subjects import protocol_topic
from hub.config import Config
from hub.i18n import DEFAULT_LOCALE, normalise, translations
from hub.models import OutboundMail
from hub.rows import build

KINDS = ("receipt", "relay", "newsletter", "invitation", "reminder", "protocol_due", "cancellation",
         "bounce_notice", "subscribe_confirm", "welcome", "task_reminder")
COLOUR = re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")

# What survives in HTML we keep (the coordinator's editorial, protocol excerpts): text structure and links.
ALLOWED_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "a", "h3", "h4", "blockquote",
                "table", "thead", "tbody", "tr", "th", "td", "hr", "code"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}


T = TypeVar("T")


class TemplateMissing(LookupError):
    pass


@dataclass(frozen=True)
class ComposedMail:
    subject: str
    text: str
    html: str


@cache
def default_template_dir() -> Path:
    return Path(__file__).resolve().parent / "templates"


def template_dirs(config: Config) -> list[Path]:
    dirs = []
    if config.templates.dir:
        own = Path(config.templates.dir)
        dirs.append(own if own.is_absolute() else config.base_dir / own)
    dirs.append(default_template_dir())
    return dirs


def office_mail(config: Config, kind: str, composed: ComposedMail, source_ref: str, *, subject: str | None = None,
                headers: dict | None = None, bulk: bool = False) -> OutboundMail:
    """A composed mail as the Geschäftsstelle sends it: from the office, answers to the office."""
    return build(
        OutboundMail, kind=kind, subject=subject or composed.subject, text=composed.text, html=composed.html,
        from_address=config.mail.office_address, from_name=config.alliance.name,
        reply_to=config.mail.office_address, headers=headers or {}, bulk=bulk, source_ref=source_ref,
    )


def by_locale(config: Config, people: Iterable[T]) -> dict[str, list[T]]:
    """People (anything with a `language`) grouped by the language their mail is written in."""
    groups: dict[str, list[T]] = defaultdict(list)
    for person in people:
        groups[locale_for(config, person.language)].append(person)
    return dict(groups)


def locale_for(config: Config, language: str | None = None) -> str:
    """A partner's own language wins over the alliance's; anything unknown falls back to German."""
    return normalise(language) or normalise(config.alliance.language) or DEFAULT_LOCALE


@lru_cache(maxsize=32)
def _environment(dirs: tuple[str, ...], locale: str, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(dirs)),
        autoescape=html,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)
    env.globals["_"] = _gettext(translations(locale), html)
    env.filters["paragraphs"] = paragraphs
    env.filters["protocol_html"] = protocol_html
    env.filters["protocol_topic"] = protocol_topic
    env.globals["LOCALE"] = locale
    return env


def _gettext(catalogue, html: bool):
    """`_()` as Jinja's new-style gettext does it (translated, escaped where the template is, always `%`-formatted),
    called directly: Jinja's own goes through three context calls, a third of rendering a receipt."""

    def gettext(string: str, **variables) -> str:
        text = catalogue.gettext(string)
        return (Markup(text) if html else text) % variables

    return gettext


def format_when(value: datetime | str | None, config: Config, locale: str) -> str:
    """'Dienstag, 21. April 2026, 18:00 Uhr' in the alliance's time zone; a bare date without the time."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    return _when(value, config.tz, locale)


@lru_cache(maxsize=256)  # a mail's text and HTML name the same dates; Babel takes 40–60 µs for each
def _when(value: datetime | date, tz, locale: str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        pattern = "EEEE, d. MMMM y, HH:mm 'Uhr'" if locale == "de" else "EEEE, d MMMM y, HH:mm"
        return format_datetime(value, pattern, tzinfo=tz, locale=locale)
    return format_date(value, "EEEE, d. MMMM y" if locale == "de" else "EEEE, d MMMM y", locale=locale)


def format_day(value: date | datetime | str | None, locale: str, config: Config | None = None) -> str:
    """'21.04.2026' (de) or '21 Apr 2026' (en): short dates for lists and tables."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = (value.astimezone(config.tz) if config and value.tzinfo else value).date()
    return format_date(value, "dd.MM.y" if locale == "de" else "d MMM y", locale=locale)


def paragraphs(text: str | None) -> Markup:
    """Untrusted plain text as HTML: escaped, blank lines → paragraphs' breaks, line ends → <br>."""
    if not text:
        return Markup("")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", str(text).replace("\r\n", "\n")) if b.strip()]
    return Markup("<br><br>").join(Markup("<br>").join(escape(line) for line in b.split("\n")) for b in blocks)


def sanitize_html(html: str) -> Markup:
    """HTML we keep goes through nh3 with a strict allow-list; links only http(s) and mailto."""
    return Markup(nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                            clean_content_tags={"script", "style"}, link_rel="noopener noreferrer"))


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown_html(text: str) -> Markup:
    """The coordinator's editorial (Markdown) as sanitized HTML."""
    return sanitize_html(_markdown.render(text or ""))


def brand(config: Config) -> dict:
    alliance = config.alliance
    return {
        "name": alliance.name,
        "colour": alliance.colour if COLOUR.match(alliance.colour) else "#1f5c99",
        "accent": alliance.accent_colour if COLOUR.match(alliance.accent_colour) else "#f2a900",
        "website": alliance.website if alliance.website and alliance.website.startswith(("http://", "https://"))
        else None,
        "domain": alliance.domain,
        "office_address": config.mail.office_address,
        "protocol_address": config.mail.protocol_address,
        "unsubscribe_address": config.mail.unsubscribe_address,
    }


def warm_up(config: Config, kinds: Iterable[str]) -> None:
    """Compile the templates of `kinds` in the alliance's language ahead, so that the first mails after a start
    do not wait for it (Jinja compiles a template at its first use, some 50 ms for a kind and its layout). A
    template that is missing or broken is met again, and reported, by the first mail of its kind."""
    dirs = tuple(str(d) for d in template_dirs(config))
    # Babel reads its data for the language at the first date it formats
    format_when(datetime(2000, 1, 1, 12, 0), config, locale_for(config))
    format_day(date(2000, 1, 1), locale_for(config), config)
    for html, suffix in ((False, "txt"), (True, "mjml")):
        env = _environment(dirs, locale_for(config), html)
        for name in (*kinds, "_layout"):  # a kind's template extends the layout only when it renders
            try:
                env.get_template(f"{name}.{suffix}")
            except jinja2.TemplateError:
                continue


def render_text(kind: str, context: dict, locale: str, config: Config) -> tuple[str, str]:
    """(subject, text) from `KIND.txt`; the template sets `subject` at its top level."""
    env = _environment(tuple(str(d) for d in template_dirs(config)), locale, False)
    try:
        template = env.get_template(f"{kind}.txt")
    except jinja2.TemplateNotFound:
        raise TemplateMissing(f"no template {kind}.txt in {', '.join(map(str, template_dirs(config)))}") from None
    module = template.make_module(_context(context, locale, config))
    subject = " ".join(str(getattr(module, "subject", "")).split())
    text = re.sub(r"\n{3,}", "\n\n", str(module)).strip() + "\n"
    return subject, text


def render_mjml(kind: str, context: dict, locale: str, config: Config) -> str:
    env = _environment(tuple(str(d) for d in template_dirs(config)), locale, True)
    try:
        template = env.get_template(f"{kind}.mjml")
    except jinja2.TemplateNotFound:
        raise TemplateMissing(f"no template {kind}.mjml in {', '.join(map(str, template_dirs(config)))}") from None
    return template.render(_context(context, locale, config))


# What XML 1.0 does not allow (C0 controls but tab, CR, LF; U+FFFE, U+FFFF): MJML's parser stops on it, and a
# protocol's text may carry it (a form feed from an old mailer, a byte of broken base64).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def compile_mjml(source: str) -> str:
    """The HTML of an MJML source, from its form compiled before when there is one (hub/compose/compiled.py)."""
    return html_from_mjml(_NOT_XML.sub("\ufffd", source), compile_anew)


def compile_anew(source: str) -> str:
    return minify(mjml.mjml2html(source))


def compose(kind: str, context: dict, locale: str | None, config: Config) -> ComposedMail:
    """One mail of `kind`: subject and text from the text template, HTML from the MJML template."""
    locale = locale_for(config, locale)
    subject, text = render_text(kind, context, locale, config)
    html = compile_mjml(render_mjml(kind, {**context, "subject": subject}, locale, config))
    return ComposedMail(subject=subject, text=text, html=html)


def _context(context: dict, locale: str, config: Config) -> dict:
    return {
        "brand": brand(config),
        "locale": locale,
        **context,
        "format_when": lambda value: format_when(value, config, locale),
        "format_day": lambda value: format_day(value, locale, config),
    }
