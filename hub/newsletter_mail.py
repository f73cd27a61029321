"""How a newsletter issue reads as a mail: its template context for an audience, the issue rendered once per
language (the per-recipient greeting and unsubscribe link left as the outbox's tokens), its title in the
reader's language, and the tokens filled in for a preview or a test mail. The issue's life (draft, approve,
send) is hub/newsletter.py.
"""

from __future__ import annotations

import html as html_module
from datetime import datetime, timedelta
from pathlib import Path

from babel.dates import format_date

from hub import newsletter_content
from hub.compose.plain import markdown_text
from hub.compose.render import ComposedMail, compose, locale_for, markdown_html, translations
from hub.config import Config
from hub.models import NewsletterIssue


def issue_title(config: Config, start: datetime, end: datetime, report: bool, locale: str | None = None) -> str:
    locale = locale or config.alliance.language
    last = (end - timedelta(seconds=1)).astimezone(config.tz)
    if report:
        return translations(locale).gettext("Bericht über die Bündnisaktivitäten %(period)s") % {
            "period": f"{format_date(start.astimezone(config.tz), 'MMMM y', locale=locale)} – "
                      f"{format_date(last, 'MMMM y', locale=locale)}"}
    return translations(locale).gettext("Newsletter %(month)s") % {
        "month": format_date(last, "MMMM y", locale=locale)}


AUDIENCES = (newsletter_content.PARTNER, "public")


def context(issue: NewsletterIssue, audience: str = newsletter_content.PARTNER) -> dict:
    content = newsletter_content.for_audience(issue.content or {}, audience)
    return {
        "title": issue.title,
        "report": issue.kind == "report",
        "period_start": issue.period_start,
        "period_end": issue.period_end - timedelta(seconds=1),
        "editorial_html": markdown_html(issue.editorial) if issue.editorial.strip() else None,
        "editorial_text": markdown_text(issue.editorial),
        "groups": content.get("groups", []),
        "upcoming": content.get("upcoming", []),
        "new_partners": content.get("new_partners", []),
        "summary": content.get("summary"),
        "greeting": "%%greeting%%",
        "unsubscribe_url": "%%unsubscribe_url%%",
        "preview": issue.title,
    }


def render(config: Config, issue: NewsletterIssue, locale: str | None = None,
           audience: str = newsletter_content.PARTNER) -> ComposedMail:
    """The issue in one language for one audience, with the per-recipient tokens still in it: one MJML
    compile."""
    locale = locale_for(config, locale)
    return compose("newsletter", {**context(issue, audience), "title": title(config, issue, locale)}, locale,
                   config)


def title(config: Config, issue: NewsletterIssue, locale: str) -> str:
    """The issue's title in the reader's language, unless the coordinator wrote one of their own."""
    made = issue_title(config, issue.period_start, issue.period_end, issue.kind == "report")
    if issue.title != made:
        return issue.title
    return issue_title(config, issue.period_start, issue.period_end, issue.kind == "report", locale)


def greeting(locale: str, name: str | None) -> str:
    gettext = translations(locale).gettext
    return gettext("Guten Tag %(name)s,") % {"name": name} if name else gettext("Guten Tag,")


def fill(composed: ComposedMail, values: dict[str, str]) -> ComposedMail:
    """The tokens filled in, as the outbox does at send time: for previews and test mails."""
    def text(value: str, escape: bool) -> str:
        for key, item in values.items():
            value = value.replace(f"%%{key}%%", html_module.escape(item) if escape else item)
        return value

    return ComposedMail(subject=composed.subject, text=text(composed.text, False), html=text(composed.html, True))


def preview(config: Config, issue: NewsletterIssue, folder: Path, locale: str | None = None,
            audience: str = newsletter_content.PARTNER) -> tuple[Path, Path]:
    """Write the issue as a sample recipient of `audience` sees it: `newsletter-ID.html` and `.txt` (the public
    edition: `newsletter-ID-public.…`)."""
    locale = locale_for(config, locale)
    composed = fill(render(config, issue, locale, audience), {
        "greeting": greeting(locale, "Erika Mustermann"),
        "unsubscribe_url": f"{config.web.base_url.rstrip('/')}/unsubscribe/BEISPIEL",
    })
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"newsletter-{issue.id}" + ("" if audience == newsletter_content.PARTNER else f"-{audience}")
    html_path, text_path = folder / f"{stem}.html", folder / f"{stem}.txt"
    html_path.write_text(composed.html, encoding="utf-8")
    text_path.write_text(composed.text, encoding="utf-8")
    return html_path, text_path
