"""The real-world corpus (../shared/corpus, see its README and MANIFEST.tsv) through parse and classify.

Every file parses and classifies without an exception; bounces give the addresses and the permanence the
MANIFEST names; auto-replies are auto-replies; look-alikes are not bounces; German mail keeps its umlauts.
"""

from __future__ import annotations

import re
from functools import cache

import pytest
from conftest import CORPUS, needs_corpus

from hub.inbound.classify import classify
from hub.inbound.parse import parse

pytestmark = needs_corpus
FOLDERS = ("mime", "bounce", "autoreply", "feedback", "not-bounce", "german")


@cache
def manifest() -> list[tuple[str, str]]:
    rows = []
    for line in (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        rows.append((fields[0], fields[5] if len(fields) > 5 else ""))
    return rows


@cache
def understood(path: str):
    raw = (CORPUS / path).read_bytes()
    parsed = parse(raw)
    return parsed, classify(raw, parsed)


def files(folder: str) -> list[tuple[str, str]]:
    return [(path, notes) for path, notes in manifest() if path.startswith(folder + "/")]


def test_manifest_lists_every_file():
    listed = {path for path, _ in manifest()}
    on_disk = {f"{p.parent.name}/{p.name}" for folder in FOLDERS for p in (CORPUS / folder).iterdir() if p.is_file()}
    assert on_disk == listed and len(listed) > 400


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_file_parses_and_classifies(folder):
    for path, _ in files(folder):
        parsed, result = understood(path)
        assert parsed.content_hash and parsed.message_id.startswith("<"), path
        assert result.kind in ("protocol", "bounce", "autoreply", "other"), path
        assert not any(d.startswith("Die Nachricht konnte nicht zerlegt werden") for d in parsed.defects), path
        for attachment in parsed.attachments:
            # a display name only: never a path (one file names its attachment "1234/../../1234.txt")
            assert "/" not in attachment.filename and "\\" not in attachment.filename, path
            assert not attachment.filename.startswith("."), path


def test_hostile_attachment_name_is_defused():
    names = [a.filename for path, _ in files("mime") for a in understood(path)[0].attachments]
    assert "1234.txt" in names


def test_bounces():
    """Bounce files are bounces with the MANIFEST's addresses and permanence.

    A few corpus files cannot be recognised by a rule that would not also misfire on ordinary mail: FML
    mailing-list notices ("you are not a member", "loop alert") that name no failed delivery, a DSN whose
    Final-Recipient is a source route, and a Yahoo bounce whose text gives 4.4.1 while its source labels it
    permanent (we let the status class decide, as for DSNs). So the test asks for a high share, not all, and
    reports what it missed.
    """
    rows = files("bounce")
    not_bounce, wrong_address, wrong_class = [], [], []
    with_addresses = with_class = 0
    for path, notes in rows:
        _, result = understood(path)
        if result.kind != "bounce":
            not_bounce.append(path)
            continue
        assert result.bounce is not None and result.reason
        wanted = re.search(r"final_recipients=(\S+)", notes)
        if wanted:
            with_addresses += 1
            want = {a.lower() for a in wanted.group(1).split(",") if a}
            if not want <= {a.lower() for a in result.bounce.recipients}:
                wrong_address.append(path)
        given = re.search(r"class=(permanent|transient|delay)\b", notes)
        if given:
            with_class += 1
            if result.bounce.permanent != (given.group(1) == "permanent"):
                wrong_class.append(path)
    report = f"not bounce: {not_bounce}; addresses: {wrong_address}; permanence: {wrong_class}"
    assert len(rows) > 200
    assert len(not_bounce) <= 0.03 * len(rows), report
    assert len(wrong_address) <= 0.03 * with_addresses, report
    assert len(wrong_class) <= 0.03 * with_class, report


def test_autoreplies():
    for path, _ in files("autoreply"):
        assert understood(path)[1].kind == "autoreply", path


def test_not_bounces_and_feedback():
    for path, _ in files("not-bounce"):
        assert understood(path)[1].kind != "bounce", path
    for path, _ in files("feedback"):
        assert understood(path)[1].kind != "protocol", path
    assert understood("not-bounce/sisimai__rfc3464-28.eml")[1].kind == "other"  # a success DSN


def test_german_umlauts():
    parsed, _ = understood("german/otrs__PostMaster-Test5.box")
    assert "Sie möchten Ümlaute, sie krügen Ümlaute." in parsed.text
    assert "hübsches züm tästen" in parsed.subject
    by_name = {a.filename: a for a in parsed.attachments}
    assert "Some German Text with Umlaut: ÄÖÜß" in by_name["test-attachment-äöüß-iso-8859-1.txt"].text
    assert by_name["test-attachment-äöüß.pdf"].content_type == "application/pdf"

    for name in ("german/otrs__PostMaster-Test6.box", "german/otrs__PostMaster-Test7.box"):
        parsed, _ = understood(name)
        assert "Nücht mal vor Anhängen machen Umlaute halt:\näöüÄÖÜ" in parsed.text
        assert "Mit freundlichen Grüßen" in parsed.text
        assert "test-attachment-äöüß.pdf" in {a.filename for a in parsed.attachments}

    parsed, _ = understood("german/otrs__test-email-6-euro-utf-8.box")
    assert parsed.subject == "Testski mit Euro (Kostet 10 €)"
    assert "€ € €" in parsed.text and "Viele Grüße" in parsed.text

    parsed, _ = understood("german/rt__8859-15-message-series_msg1.eml")
    assert parsed.subject == "test äöüßÄÖÜß€" and "test äöüßÄÖÜß€" in parsed.text

    parsed, _ = understood("german/rt__multipart-alternative-with-umlaut.eml")
    assert "Mit freundlichen Grüßen" in parsed.text

    parsed, _ = understood("german/zbateson__m0001.txt")
    assert parsed.subject == "Die Hasen und die Frösche (Microsoft Outlook 00)"
    assert "Die Hasen klagten einst über ihre mißliche Lage" in parsed.text

    parsed, _ = understood("german/zbateson__m3004.txt")
    [fable] = parsed.attachments
    assert fable.filename == "HasenundFrösche.txt" and "Die Hasen und die Frösche" in fable.text

    parsed, _ = understood("german/zammad__mail001.box")
    assert parsed.subject == "CI Daten für PublicView"
    assert "wie besprochen hier noch die Daten für die Intranetseite" in parsed.text
