"""The bytes the hub sends: headers through the email library, per-recipient fill-ins, DKIM, attachments."""

from __future__ import annotations

import base64
import email
import hashlib
import re
import subprocess
from email import policy
from email.headerregistry import Address

import dkim
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from smtp_sink import configure

from hub.alliance import unit_of_work
from hub.models import Blob, Delivery, OutboundMail
from hub.outbound import assemble, headers, verp


def _delivery(**kw) -> Delivery:
    data = {"id": 41, "mail_id": 7, "recipient": "anna@example.org", "recipient_name": "Anna Schmidt",
            "dedupe_key": "k", "values": {}}
    return Delivery(**(data | kw))


def _mail(**kw) -> OutboundMail:
    data = {"id": 7, "kind": "receipt", "subject": "Ihr Protokoll ist abgelegt", "from_address": "",
            "text": "Guten Tag %%name%%,\n\ndanke.\n"}
    return OutboundMail(**(data | kw))


def _parse(data: bytes) -> email.message.EmailMessage:
    assert b"\n" not in data.replace(b"\r\n", b""), "the message must use CRLF line ends only, as on the wire"
    return email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=policy.default)


def test_standard_headers_of_an_automatic_mail(config):
    data, message_id = assemble.skeleton(config, _mail()).render(config, _delivery())
    msg = _parse(data)
    assert msg["From"].addresses[0].addr_spec == config.mail.office_address
    assert msg["From"].addresses[0].display_name == config.alliance.name
    assert msg["Reply-To"].addresses[0].addr_spec == config.mail.office_address
    assert msg["To"].addresses[0].display_name == "Anna Schmidt"
    assert msg["Message-ID"] == message_id and message_id.endswith(f"@{config.alliance.domain}>")
    assert msg["Date"].datetime is not None
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Id"].endswith(f"<receipt.{config.alliance.domain}>")
    assert "Precedence" not in msg and "List-Unsubscribe" not in msg
    assert msg.get_content() == "Guten Tag Anna Schmidt,\n\ndanke.\n"
    # the same delivery always gets the same Message-ID (a resend after a crash is recognisable)
    assert assemble.skeleton(config, _mail()).render(config, _delivery())[1] == message_id


def test_receipt_may_say_auto_replied_and_thread(config):
    mail = _mail(headers={"Auto-Submitted": "auto-replied", "In-Reply-To": "<orig@example.org>",
                          "Bcc": "sneaky@example.org", "Bad Name": "x"})
    msg = _parse(assemble.skeleton(config, mail).render(config, _delivery())[0])
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<orig@example.org>"
    assert "Bcc" not in msg and "Bad Name" not in msg


def test_newsletter_has_bulk_and_one_click_unsubscribe(config):
    mail = _mail(kind="newsletter", bulk=True, text="Abmelden: %%unsubscribe_url%%",
                 html='<a href="%%unsubscribe_url%%">Abmelden</a>')
    url = "https://buendnis-musterhausen.example/abmelden/abc?x=1&y=2"
    msg = _parse(assemble.skeleton(config, mail).render(config, _delivery(values={"unsubscribe_url": url}))[0])
    assert msg["Precedence"] == "bulk"
    assert msg["List-Unsubscribe"] == f"<mailto:{config.mail.unsubscribe_address}?subject=Abmelden>, <{url}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_body(("plain",)).get_content().strip() == f"Abmelden: {url}"
    assert 'href="https://buendnis-musterhausen.example/abmelden/abc?x=1&amp;y=2"' in \
        msg.get_body(("html",)).get_content()


def test_a_bad_unsubscribe_url_is_left_out_of_the_header(config):
    mail = _mail(kind="newsletter", bulk=True)
    bad = "https://x.example/a>, <mailto:evil@example.org"
    msg = _parse(assemble.skeleton(config, mail).render(config, _delivery(values={"unsubscribe_url": bad}))[0])
    assert msg["List-Unsubscribe"] == f"<mailto:{config.mail.unsubscribe_address}?subject=Abmelden>"
    assert "List-Unsubscribe-Post" not in msg


@pytest.mark.parametrize("name", [
    "Eve\r\nBcc: victim@example.org",
    "Eve\nBcc: victim@example.org",
    "Eve Müller\r\nBcc: victim@example.org",
    'Eve "the boss" <evil@example.org>, victim@example.org',
    "Ève <&> \u2028Bcc: victim@example.org",
])
def test_names_cannot_add_headers_or_recipients(config, name):
    mail = _mail(subject="Hallo\r\nBcc: victim@example.org", html="<p>Hallo %%name%%</p>")
    data, _ = assemble.skeleton(config, mail).render(config, _delivery(recipient_name=name))
    msg = _parse(data)
    assert "Bcc" not in msg
    assert [a.addr_spec for a in msg["To"].addresses] == ["anna@example.org"]
    header_block = data.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in header_block.split(b"\r\n"))
    assert "Bcc: victim@example.org" in msg["Subject"]  # kept as text, on the subject's own line
    # the name reaches the HTML escaped
    html = msg.get_body(("html",)).get_content()
    assert "<&>" not in html and "victim@example.org" in html


def test_personalisation_values_and_unknown_tokens(config):
    mail = _mail(text="Hallo %%name%% (%%email%%), Ihre Gruppe: %%group%%. %%unknown%% 100%% sicher.",
                 html="<p>%%group%%</p>")
    delivery = _delivery(values={"group": "AG <Gesundheit> & Co", "n": 3})
    msg = _parse(assemble.skeleton(config, mail).render(config, delivery)[0])
    text = msg.get_body(("plain",)).get_content()
    assert text.strip() == ("Hallo Anna Schmidt (anna@example.org), Ihre Gruppe: AG <Gesundheit> & Co. "
                            "%%unknown%% 100%% sicher.")
    assert "<p>AG &lt;Gesundheit&gt; &amp; Co</p>" in msg.get_body(("html",)).get_content()


def test_long_lines_umlauts_and_dots_survive_quoted_printable(config):
    body = ("Zeile mit Umlauten äöüß und = Zeichen " * 30 + "\n.\n..Punkt\nFrom here\n") * 3
    mail = _mail(text=body + "%%name%%" + body, html=None)
    msg = _parse(assemble.skeleton(config, mail).render(config, _delivery(recipient_name="Jürgen Weiß"))[0])
    assert msg.get_content() == body + "Jürgen Weiß" + body.rstrip("\n") + "\n"
    assert msg["To"].addresses[0].display_name == "Jürgen Weiß"


def test_attachments_come_from_blobs(config, session):
    content = b"%PDF-1.4 protocol bytes"
    sha = hashlib.sha256(content).hexdigest()
    path = config.data_dir / "blobs" / sha[:2] / sha
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    blob = Blob(sha256=sha, size=len(content), content_type="application/pdf", path=f"blobs/{sha[:2]}/{sha}")
    mail = _mail(attachments=[{"blob": sha, "filename": "Protokoll AG Gesundheit.pdf",
                               "content_type": "application/pdf"}])
    msg = _parse(assemble.skeleton(config, mail, {sha: blob}).render(config, _delivery())[0])
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "Protokoll AG Gesundheit.pdf"
    assert attachment.get_content() == content
    with pytest.raises(LookupError):
        assemble.skeleton(config, mail, {})


def test_verp_round_trip_and_forgery(config):
    sender = verp.envelope_sender(config, 123456)
    local = sender.split("@")[0]
    assert local.startswith("bounces+") and len(local) <= 64
    assert verp.delivery_for(config, sender) == 123456
    assert verp.delivery_for(config, sender.upper()) == 123456  # MTAs that change the case
    assert verp.delivery_for(config, f"<{sender}>") == 123456
    forged = sender.replace("123456", "123457")
    assert verp.delivery_for(config, forged) is None
    assert verp.delivery_for(config, "bounces+1.abc@buendnis-musterhausen.example") is None
    assert verp.delivery_for(config, sender.replace("buendnis-musterhausen.example", "example.org")) is None
    assert verp.delivery_for(config, "geschaeftsstelle@buendnis-musterhausen.example") is None


def _dkim_key(tmp_path) -> tuple[str, bytes]:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return str(key), b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def test_dkim_signature_verifies(hub_dir, alliance, tmp_path):
    key, record = _dkim_key(tmp_path)
    config = configure(hub_dir, dkim={"selector": "hub2026", "key_file": key})
    mail = _mail(id=None, kind="newsletter", bulk=True, html="<p>Hallo %%name%%</p>")
    with unit_of_work(config) as session:
        from hub.outbound import outbox

        outbox.enqueue(session, mail, [outbox.Recipient("anna@example.org", name="Anna Müller")])
    from hub.outbound import deliver

    assert deliver.flush(config).sent == 1
    (path,) = list((config.data_dir / "outbox" / "new").iterdir())
    data = path.read_bytes()

    def dns(name, timeout=5):
        assert name == b"hub2026._domainkey.buendnis-musterhausen.example."
        return record

    assert b"DKIM-Signature:" in data
    assert dkim.verify(data.replace(b"\n", b"\r\n"), dnsfunc=dns)
    tampered = data.replace(b"Hallo", b"Hallo!", 1)
    assert not dkim.verify(tampered.replace(b"\n", b"\r\n"), dnsfunc=dns)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["From", "Reply-To", "Subject", "List-Id", "In-Reply-To", "References", "Date",
                              "Content-Type", "Message-ID", "MIME-Version", "X-Hub"]),
       value=st.one_of(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=200),
                       st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=90),
                       st.from_regex(r"<[a-z0-9.=?-]{1,50}@[a-z0-9.-]{1,20}>( <[a-z0-9.-]{1,30}@x\.example>)?",
                                     fullmatch=True)))
@example(name="Subject", value="=?utf-8?q?Hallo?= Welt")  # an encoded word is decoded (and not encoded again)
@example(name="In-Reply-To", value="<1.2.abc@buendnis.example>")
def test_a_header_folded_from_memory_is_the_header_folded_anew(name, value):
    """Headers are folded from memory when folded before (most of a receipt's cost was folding the same From
    and List-Id again), plain free text as it is: the first and the remembered folding are what policy.SMTP
    makes of the same header."""
    try:
        expected = policy.SMTP.fold_binary(*policy.SMTP.header_store_parse(name, value))
    except Exception as exc:  # a value the library refuses is refused from memory too
        for _ in range(2):
            with pytest.raises(type(exc)):
                headers.folded(name, value)
        return
    for _ in range(2):
        assert headers.folded(name, value) == expected


@settings(max_examples=300, deadline=None)
@given(display_name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=120))
def test_an_address_folded_from_memory_is_the_address_folded_anew(display_name):
    """From and Reply-To are set as Address objects (the alliance's name, any characters)."""
    address = Address(display_name=display_name, addr_spec="geschaeftsstelle@buendnis.example")
    expected = policy.SMTP.fold_binary(*policy.SMTP.header_store_parse("From", address))
    for _ in range(2):
        assert headers.folded("From", address) == expected


_BOUNDARY = re.compile(rb'boundary="([^"]+)"')
_piece = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                   st.sampled_from(["%%name%%", "%%email%%", "%%unbekannt%%", "\n", "\r\n", "--==", "=", " \n"]))
_body = st.lists(_piece, max_size=12).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=st.text(st.characters(blacklist_categories=("Cs",)), max_size=120), text=_body,
       html=st.one_of(st.none(), _body), bulk=st.booleans(),
       extra=st.dictionaries(st.sampled_from(["In-Reply-To", "References", "Auto-Submitted", "List-Id", "X-Hub"]),
                             st.text(st.characters(blacklist_categories=("Cs",)), max_size=80), max_size=3))
def test_a_mail_of_text_and_html_is_what_the_email_library_makes_of_it(config, subject, text, html, bulk, extra):
    """Receipts, relays and notices (text and HTML only) share one MIME tree made once per process, not one
    made by the email library per mail: byte for byte, what a recipient gets is the same but for the boundary,
    which is the process's. In the shared tree that boundary still appears in no part."""
    mail = _mail(subject=subject, text=text, html=html, bulk=bulk, headers=extra)
    framed = assemble.skeleton(config, mail)
    head = re.split(rb"(?<=\r\n)(?=MIME-Version: |Content-Type: )", framed.segments[0], maxsplit=1)[0]
    tree = assemble.mime_tree(config, mail)
    built = assemble.Skeleton(mail_id=7, segments=[head + tree[0], *tree[1:]], bulk=bulk,
                              domain=framed.domain, mailto=framed.mailto)
    delivery = _delivery(recipient_name="Jürgen Weiß", values={"unsubscribe_url": "https://example.org/a?b=1"})
    ours, theirs = framed.render(config, delivery)[0], built.render(config, delivery)[0]
    boundaries = [_BOUNDARY.findall(data) for data in (ours, theirs)]
    assert len(boundaries[0]) == len(boundaries[1]) == (1 if html else 0)
    if html:
        ours, theirs = (data.replace(b[0], b"BOUNDARY") for data, b in zip((ours, theirs), boundaries, strict=True))
        assert ours.count(b"--BOUNDARY") == 3  # two parts and the end: no part holds the boundary
    assert ours == theirs
    _parse(ours)  # CRLF line ends only
