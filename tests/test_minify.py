"""The compiled HTML is written compactly (issue 18: bytes per newsletter recipient) and looks the same."""

from __future__ import annotations

import mjml
from mailcheck import CHROMIUM, CHROMIUM_ARGS, Page
from PIL import Image, ImageChops
from test_templates import CONTEXTS

from hub.compose.minify import minify
from hub.compose.render import compose, render_mjml


def test_styles_are_written_short_and_outlooks_comments_merged():
    html = minify(
        '<html><head>\n  <title> Titel </title>\n<style type="text/css">\n#outlook a { padding: 0; }\n'
        "@media only screen and (min-width:480px) {\n  .col { width:100% !important; }\n}\n</style>\n</head>"
        '<body style="word-spacing:normal;"><!--[if mso | IE]><table><tr><td><![endif]-->'
        '<!--[if mso | IE]><table width="600"><![endif]-->'
        '<div style="font-family:Arial, Helvetica, sans-serif;padding:6px 28px 6px 28px;margin:0px 0 8px 0;">x</div>'
        '<p style="">y</p><td style="padding:0px 0px 0px 0px;font-size:0px;line-height:10px">z</td></body></html>')
    assert html == (
        "<html><head><title> Titel </title><style type=\"text/css\">#outlook a{padding:0}"
        "@media only screen and (min-width:480px){.col{width:100% !important}}</style></head>"
        '<body style="word-spacing:normal"><!--[if mso | IE]><table><tr><td><table width="600"><![endif]-->'
        '<div style="font-family:Arial,Helvetica,sans-serif;padding:6px 28px;margin:0 0 8px">x</div>'
        '<p>y</p><td style="padding:0;font-size:0;line-height:10px">z</td></body></html>')


def test_text_and_links_are_never_touched():
    body = ('<div style="color:#fff;">Preis: 10px ; style="a; b" &lt;p style="x; "&gt; 0px, 1,  2</div>'
            '<a href="https://example.org/?a=1;%20b,%20c" style="color: #123;">Link ; text</a>')
    assert minify(body) == body.replace("color:#fff;", "color:#fff").replace("color: #123;", "color:#123")


def test_every_kind_of_mail_compiles_to_the_same_page(config):
    for kind in CONTEXTS:
        mail = compose(kind, CONTEXTS[kind], "de", config)
        raw = mjml.mjml2html(render_mjml(kind, {**CONTEXTS[kind], "subject": mail.subject}, "de", config))
        assert Page(mail.html).text == Page(raw).text, kind
        assert sorted(Page(mail.html).hrefs) == sorted(Page(raw).hrefs), kind
        assert len(mail.html) < len(raw), kind


def test_the_minified_newsletter_looks_the_same_in_chromium(config, tmp_path):
    """Pixel for pixel, at phone and desktop width."""
    from playwright.sync_api import sync_playwright

    context = CONTEXTS["newsletter"]
    mail = compose("newsletter", context, "de", config)
    raw = mjml.mjml2html(render_mjml("newsletter", {**context, "subject": mail.subject}, "de", config))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width in (375, 1024):
                shots = []
                for name, html in (("raw", raw), ("minified", mail.html)):
                    page = browser.new_page(viewport={"width": width, "height": 800})
                    page.set_content(html)
                    page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
                    page.close()
                    shots.append(Image.open(tmp_path / f"{name}.png").convert("RGB"))
                assert shots[0].size == shots[1].size
                assert ImageChops.difference(*shots).getbbox() is None, f"differs at width {width}"
        finally:
            browser.close()
