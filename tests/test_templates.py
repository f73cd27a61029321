"""Every kind of mail renders in German and English, as text and HTML, escaped, in the alliance's colours."""

from __future__ import annotations

from datetime import UTC, date, datetime

import jinja2
import pytest
from mailcheck import Page, assert_golden

from hub import supervisor
from hub.compose.render import KINDS, compose, format_when, locale_for, markdown_html, render_mjml, sanitize_html
from hub.config import Templates

START = datetime(2026, 4, 21, 16, 0, tzinfo=UTC)  # 18:00 in Berlin

CONTEXTS = {
    "receipt": {"name": "Dr. Jürgen Weiß", "group": "AG Gesundheit",
                "protocol_subject": "Protokoll AG Gesundheit 14.04.", "received_at": START,
                "meeting_date": date(2026, 4, 14), "next_meeting": "2026-05-12T18:00",
                "next_meeting_location": "Rathaus, Raum 2", "tasks": [{"what": "Flyer", "who": "Frau Yılmaz"}],
                "relay": "digest"},
    "relay": {"group": "AG Gesundheit", "protocol_subject": "Protokoll vom 14.04.", "sender_name": "Dr. Jürgen Weiß",
              "meeting_date": date(2026, 4, 14), "next_meeting": "2026-05-12T18:00", "next_meeting_location": "Rathaus",
              "tasks": [{"what": "Flyer drucken", "who": "Frau Yılmaz"}, {"what": "Saal buchen", "who": ""}],
              "text": "Anwesend: 6 Personen\n\n1. Gesundheitstag im Juni\nWir planen Stände.",
              "attachments": ["protokoll.docx"], "attachments_included": False},
    "newsletter": {"title": "Newsletter April 2026", "report": False, "period_start": date(2026, 3, 1),
                   "period_end": date(2026, 3, 31), "editorial_html": None, "editorial_text": "",
                   "groups": [{"name": "AG Gesundheit", "protocols": [{
                       "title": "Protokoll vom 14.04.", "meeting_date": "2026-04-14",
                       "excerpt": "Der Gesundheitstag findet im Juni statt.",
                       "tasks": [{"what": "Flyer", "who": "Frau Yılmaz"}], "next_meeting": "2026-05-12T18:00",
                       "next_meeting_location": "Rathaus"}]}],
                   "upcoming": [{"start": "2026-05-12T18:00", "group": "AG Gesundheit", "title": "",
                                 "location": "Rathaus"}],
                   "new_partners": [{"name": "Eva Rot", "organisation": "Kita Sonnenschein"}],
                   "greeting": "%%greeting%%", "unsubscribe_url": "%%unsubscribe_url%%"},
    "invitation": {"group": "AG Gesundheit", "title": "Treffen AG Gesundheit", "start": START,
                   "when": "Dienstag, 21. April 2026, 18:00 Uhr", "until": "20:00", "location": "Rathaus, Raum 2",
                   "agenda": "1. Begrüßung\n2. Gesundheitstag", "update": False,
                   "open_tasks": [{"what": "Flyer <drucken>", "who": "Frau Yılmaz", "due": date(2027, 1, 15)},
                                  {"what": "Stände planen", "who": "", "due": None}]},
    "reminder": {"group": "AG Gesundheit", "title": "Treffen AG Gesundheit", "start": START,
                 "when": "Dienstag, 21. April 2026, 18:00 Uhr", "until": "20:00", "location": "Rathaus, Raum 2",
                 "accepted": 3},
    "protocol_due": {"group": "AG Gesundheit", "title": "Treffen AG Gesundheit", "start": START,
                     "when": "Dienstag, 21. April 2026, 18:00 Uhr",
                     "protocol_address": "protokolle@buendnis-musterhausen.example"},
    "task_reminder": {"name": "Frau Stürmer", "group": "AG Gesundheit", "what": "Flyer <drucken> & verteilen",
                      "due": date(2027, 1, 15), "due_text": "Freitag, 15. Januar 2027",
                      "office_address": "geschaeftsstelle@buendnis-musterhausen.example"},
    "cancellation": {"group": "AG Gesundheit", "title": "Treffen AG Gesundheit", "start": START,
                     "when": "Dienstag, 21. April 2026, 18:00 Uhr", "location": "Rathaus"},
    "bounce_notice": {"addresses": [{"address": "alt@example.org", "name": "Max Alt", "organisation": "Verein",
                                     "reason": "5.1.1 user unknown"}]},
    "subscribe_confirm": {"name": "Eva Rot", "confirm_url": "https://hub.example/subscribe/confirm/abc.def",
                          "expires_at": START},
    "welcome": {"name": "Eva Rot", "groups": [{"name": "AG Gesundheit", "address": "ag-gesundheit@example.org"}],
                "my_groups": ["AG Gesundheit"], "newsletter": True,
                "unsubscribe_url": "https://hub.example/unsubscribe/1.abc"},
}


def test_every_kind_has_a_context():
    assert set(CONTEXTS) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_text_and_html_in_german(config, kind):
    mail = compose(kind, CONTEXTS[kind], "de", config)
    assert mail.subject and "\n" not in mail.subject
    assert_golden(f"{kind}.de.txt", f"Betreff: {mail.subject}\n\n{mail.text}")
    page = Page(mail.html)
    assert "html" in page.tags and "table" in page.tags
    assert config.alliance.name in page.text
    assert config.mail.office_address in page.text
    assert any(config.alliance.colour in style for style in page.styles), "header in the alliance's colour"
    assert "Sie" in mail.text and " du " not in mail.text.lower()
    assert len(mail.html.encode()) < 100_000


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_translated_to_english(config, kind):
    mail = compose(kind, CONTEXTS[kind], "en", config)
    assert_golden(f"{kind}.en.txt", f"Subject: {mail.subject}\n\n{mail.text}")
    assert "Mit freundlichen Grüßen" not in mail.text
    assert 'lang="en"' in mail.html


def test_dates_read_like_a_german_letter(config):
    assert format_when(START, config, "de") == "Dienstag, 21. April 2026, 18:00 Uhr"
    assert format_when("2026-05-12T18:00", config, "de") == "Dienstag, 12. Mai 2026, 18:00 Uhr"
    assert format_when(date(2026, 5, 12), config, "de") == "Dienstag, 12. Mai 2026"
    assert format_when(START, config, "en") == "Tuesday, 21 April 2026, 18:00"


def test_a_partners_language_wins_over_the_alliances(config):
    assert locale_for(config, None) == "de"
    assert locale_for(config, "en") == "en"
    assert locale_for(config, "en-GB") == "en"
    assert locale_for(config, "fr") == "de"


def test_untrusted_content_is_escaped(config):
    context = {**CONTEXTS["relay"], "sender_name": '<img src=x onerror="alert(1)">',
               "text": 'Hallo <script>alert("x")</script>\n<a href="javascript:alert(1)">klick</a>',
               "tasks": [{"what": "<b>fett</b>", "who": "</td></tr>"}]}
    mail = compose("relay", context, "de", config)
    page = Page(mail.html)
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    assert not any(h.startswith("javascript:") for h in page.hrefs)
    assert '<script>alert("x")</script>' in page.text  # shown as text, not run
    assert "&lt;script&gt;" in mail.html
    assert '<script>alert("x")</script>' in mail.text  # the text part is plain text: nothing to escape


def test_what_a_translated_sentence_names_is_escaped_in_html_and_kept_in_text(config):
    """`_("Guten Tag %(name)s,", name=…)`: the name is escaped where the template is HTML, as Jinja's own
    new-style gettext does, and left as it is in the plain text."""
    mail = compose("receipt", {**CONTEXTS["receipt"], "name": "<b>Eva</b> & Co"}, "de", config)
    assert "Guten Tag &lt;b&gt;Eva&lt;/b&gt; &amp; Co," in mail.html and "<b>Eva</b>" not in mail.html
    assert "Guten Tag <b>Eva</b> & Co," in mail.text


def test_kept_html_is_sanitized_with_an_allow_list():
    html = str(markdown_html("**Wichtig**: [Programm](https://example.org/p) und [böse](javascript:alert(1))\n\n"
                             "<script>alert(1)</script>\n\n[Mail](mailto:a@b.example)"))
    page = Page(html)
    assert "strong" in page.tags and "script" not in page.tags
    assert page.hrefs == ["https://example.org/p", "mailto:a@b.example"]
    raw = str(sanitize_html('<p onclick="x()">a</p><a href="data:text/html,x">d</a><iframe src="https://x"></iframe>'
                            '<img src="https://tracker.example/x.gif">'))
    assert "onclick" not in raw and "data:" not in raw and "iframe" not in raw and "img" not in raw


def test_an_alliance_template_of_the_same_name_wins(config, tmp_path):
    own = tmp_path / "vorlagen"
    own.mkdir()
    (own / "receipt.txt").write_text(
        '{% extends "_layout.txt" %}{% set subject = "Danke, " ~ name %}'
        "{% block body %}Eigener Text für {{ group }}.{% endblock %}", encoding="utf-8")
    custom = config.model_copy(update={"templates": Templates(dir=str(own))})
    mail = compose("receipt", CONTEXTS["receipt"], "de", custom)
    assert mail.subject == "Danke, Dr. Jürgen Weiß"
    assert mail.text.startswith("Eigener Text für AG Gesundheit.")
    assert "Ihr Protokoll ist angekommen" in Page(mail.html).text  # the MJML part still the shipped one


def test_styles_sit_on_the_elements_not_only_in_a_style_block(config):
    """Outlook and many webmail clients drop <style>: the compiled HTML carries inline styles."""
    mail = compose("invitation", CONTEXTS["invitation"], "de", config)
    assert "mj-" not in Page(mail.html).text
    assert "<mj-class" in render_mjml("invitation", CONTEXTS["invitation"], "de", config)
    page = Page(mail.html)
    assert any("font-family:Arial" in s.replace(", ", ",") for s in page.styles)
    assert len(page.styles) > 20


def test_templates_compiled_ahead_are_not_compiled_again(config, tmp_path, monkeypatch):
    """`hub serve` compiles the receipt's and relay's templates before it forks its children
    (`follow_up.warm_up`): the first receipt after a start does not wait for Jinja, and the children share the
    compiled templates instead of each compiling its own."""
    own = tmp_path / "vorlagen"
    own.mkdir()  # a directory of its own: environments that no other test has compiled anything in
    custom = config.model_copy(update={"templates": Templates(dir=str(own))})
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda self, *args, **kwargs: compiled.append(args) or real(self, *args, **kwargs))
    supervisor._shared_before_fork(custom)
    assert len(compiled) == 6  # receipt, relay and their layout; text and MJML
    compose("receipt", CONTEXTS["receipt"], None, custom)
    compose("relay", CONTEXTS["relay"], None, custom)
    assert len(compiled) == 6
