"""The HTML of a mail from its MJML's compiled form (hub/compose/compiled.py) is the HTML compiled anew."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_templates import CONTEXTS

from hub.compose import compiled, render

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
_value = st.one_of(_text, st.sampled_from(["", " ", "Müller & Söhne", "<b>fett</b>", '"zitiert"', "a\n\nb",
                                            "  Leerzeichen  ", "&amp;", "HUBTEXT", "<!-- x -->", "]]>"]))


@pytest.mark.parametrize("kind", render.KINDS)
@pytest.mark.parametrize("locale", ["de", "en"])
def test_every_kind_compiles_to_the_same_html_from_its_form(config, kind, locale):
    source = render.render_mjml(kind, {**CONTEXTS[kind], "subject": "Betreff"}, locale, config)
    form, texts = compiled._form(source)
    assert texts, "a mail without texts to fill would not use the compiled form"
    assert render.compile_mjml(source) == render.compile_anew(source)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["receipt", "relay", "bounce_notice", "welcome"]),
       values=st.dictionaries(st.sampled_from(["name", "group", "protocol_subject", "sender_name", "text",
                                               "next_meeting_location", "subject"]), _value, max_size=7))
def test_any_text_a_mail_holds_compiles_to_the_same_html(config, kind, values):
    """Names, subjects and protocol texts of any characters (entities, quotes, white space, markup that gets
    escaped, the token's own prefix): filled into the compiled form, the HTML is what compiling anew makes."""
    context = {**CONTEXTS[kind], "subject": "Betreff", **values}
    source = render.render_mjml(kind, context, "de", config)
    assert render.compile_mjml(source) == render.compile_anew(render._NOT_XML.sub("\ufffd", source))


def test_one_compile_serves_mails_that_differ_in_their_texts(config):
    """Two receipts with other names, subjects and dates share one compile; a receipt with another block
    shown (no tasks found) is a form of its own."""
    calls = []

    def counting(source: str) -> str:
        calls.append(source)
        return render.compile_anew(source)

    def html(**values) -> str:
        source = render.render_mjml("receipt", {**CONTEXTS["receipt"], "subject": "Betreff", **values}, "de", config)
        return compiled.html_from_mjml(source, counting)

    first = html(name="Anna Schmidt", protocol_subject="Protokoll vom 1. März")
    second = html(name="Jürgen Weiß & Co", protocol_subject="Protokoll <Entwurf>")
    assert len(calls) == 1
    assert "Anna Schmidt" in first and "Jürgen Weiß &amp; Co" in second and "Protokoll &lt;Entwurf&gt;" in second
    html(tasks=[])
    assert len(calls) == 2


@pytest.mark.parametrize("unusual", ['<mj-raw><p title="a>b<c">x</p></mj-raw>', "<!-- Hinweis > <b> -->",
                                     '<mj-button href="https://x.example/?a<b>c">Los</mj-button>'])
def test_a_template_with_raw_html_or_comments_is_compiled_anew_each_time(unusual):
    source = ('<mjml><mj-body><mj-section><mj-column><mj-text>Guten Tag, Anna</mj-text>' + unusual +
              '</mj-column></mj-section></mj-body></mjml>')
    calls = []

    def counting(source: str) -> str:
        calls.append(source)
        return render.compile_anew(source)

    assert compiled.html_from_mjml(source, counting) == render.compile_anew(source)
    assert calls[-1] == source
