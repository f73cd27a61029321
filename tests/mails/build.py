"""Builds the realistic German protocol mails under tests/mails/ (the .eml files are committed).

Run `.venv/bin/python tests/mails/build.py` to rebuild them. Each mail is one way real people send a
protocol to the Geschäftsstelle: plain text, Outlook HTML with a table, DOCX/PDF/ODT attachments, forwards,
replies, legacy charsets, and the broken MIME real mailers produce. The routing/extraction tests read them too.
"""

from __future__ import annotations

import io
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

HERE = Path(__file__).parent
DOMAIN = "buendnis-musterhausen.example"
TO = f"protokolle@{DOMAIN}"
WEISS = "Dr. Jürgen Weiß <j.weiss@gesundheitsamt-musterhausen.example>"
OEZTUERK = "Maria Öztürk <m.oeztuerk@familienzentrum-regenbogen.example>"
KRUEGER = "Sabine Krüger <s.krueger@stadtwerke-musterhausen.example>"
DATE = "Fri, 13 Mar 2026 09:30:00 +0100"

PROTOCOL_LINES = [
    "Ergebnisprotokoll der AG Gesundheit vom 12.03.2026",
    "",
    "Ort: Gesundheitsamt Musterhausen, Raum 2.14",
    "Zeit: 17:00 – 18:45 Uhr",
    "Teilnehmende: Dr. Jürgen Weiß (Gesundheitsamt), Aylin Yılmaz (AWO), Maria Öztürk (Familienzentrum "
    "Regenbogen), Klaus Hoffmann (Kita St. Martin)",
    "Protokoll: Aylin Yılmaz",
    "",
    "TOP 1: Mit welcher Idee wollen wir starten?",
    "Ein Gesundheitstag für Familien im Stadtpark am Samstag, 13. Juni 2026: Vorsorge, Bewegung, gesunde "
    "Ernährung. Die Krankenkassen sollen angefragt werden.",
    "",
    "TOP 2: Was ist für die konkrete Umsetzung zu tun?",
    "Genehmigung beim Ordnungsamt beantragen, Stände planen, Flyer in Deutsch, Türkisch und Arabisch.",
    "Budget: 1.200 € aus dem Bündnisfonds, Rest über Spenden.",
    "",
    "TOP 3: Wer übernimmt was?",
    "- Flyer gestalten und drucken lassen: Aylin Yılmaz, bis 15.04.2026",
    "- Genehmigung beim Ordnungsamt: Dr. Jürgen Weiß, bis 31.03.2026",
    "- Kitas und Schulen informieren: Klaus Hoffmann",
    "",
    "TOP 4: Wie, wann und wo geht es weiter?",
    "Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen, Lindenstraße 5",
]
PROTOCOL = "\n".join(PROTOCOL_LINES) + "\n"
GREETING = "Liebe Kolleginnen und Kollegen,\n\nanbei das Ergebnisprotokoll unserer letzten Sitzung.\n\n"
SIGNATURE = "\nViele Grüße\nJürgen Weiß\n\n-- \nDr. Jürgen Weiß · Gesundheitsamt Musterhausen · Tel. 05555 1234-0\n"

TASKS = [("Flyer gestalten und drucken lassen", "Aylin Yılmaz", "15.04.2026"),
         ("Genehmigung beim Ordnungsamt", "Dr. Jürgen Weiß", "31.03.2026"),
         ("Kitas und Schulen informieren", "Klaus Hoffmann", "")]

# a 1x1 transparent PNG: the signature logo of an Outlook mail
LOGO = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                     "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


def base(subject: str, sender: str = WEISS, message_id: str | None = None, to: str = TO) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = DATE
    msg["Message-ID"] = message_id or f"<{subject.encode().hex()[:24]}@gesundheitsamt-musterhausen.example>"
    return msg


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Ergebnisprotokoll der AG Gesundheit vom 12.03.2026", level=1)
    for line in PROTOCOL_LINES[2:15]:
        document.add_paragraph(line)
    table = document.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("Was", "Wer", "Bis wann"), strict=True):
        cell.text = text
    for task in TASKS:
        row = table.add_row()
        for cell, text in zip(row.cells, task, strict=True):
            cell.text = text
    document.add_paragraph("TOP 4: Wie, wann und wo geht es weiter?")
    document.add_paragraph(PROTOCOL_LINES[-1])
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def odt_bytes() -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Protokoll Projektgruppe Erziehungslotsen vom 05.02.2026"))
    document.text.addElement(P(text="Teilnehmende: Maria Öztürk, Aylin Yılmaz, Petra Schulze"))
    document.text.addElement(P(text="Wer übernimmt was?"))
    table = Table(name="Aufgaben")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for what, who in (("Schulung der neuen Lotsinnen vorbereiten", "Maria Öztürk"),
                      ("Elternbrief übersetzen (Türkisch)", "Aylin Yılmaz")):
        row = TableRow()
        for text in (what, who):
            cell = TableCell()
            cell.addElement(P(text=text))
            row.addElement(cell)
        table.addElement(row)
    document.text.addElement(table)
    document.text.addElement(P(text="Nächste Sitzung: 7.5.2026, 9.30 Uhr, AWO-Begegnungsstätte"))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_bytes() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    lines = ["Protokoll AG Familienfreundliches Unternehmen", "Sitzung am 3. März 2026",
             "Teilnehmende: Sabine Krüger (Stadtwerke), Ines Schäfer (DGB), Tobias Lang (IHK)",
             "Wer übernimmt was?", "- Umfrage unter den Mitgliedsbetrieben: Sabine Krüger",
             "- Checkliste familienfreundlicher Arbeitsplatz: Ines Schäfer",
             "Wir treffen uns wieder am 28. April 2026 um 16 Uhr bei den Stadtwerken, Großer Saal."]
    for line in lines:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def write(name: str, data: bytes | EmailMessage) -> None:
    raw = data.as_bytes(policy=SMTP) if isinstance(data, EmailMessage) else data
    (HERE / name).write_bytes(raw)


def main() -> None:
    msg = base("Ergebnisprotokoll AG Gesundheit vom 12.03.2026")
    msg.set_content(GREETING + PROTOCOL + SIGNATURE)
    write("plain_protokoll_gesundheit.eml", msg)

    rows = "".join(f"<tr><td><p class=MsoNormal>{w}</p></td><td><p class=MsoNormal>{who}</p></td>"
                   f"<td><p class=MsoNormal>{due}&nbsp;</p></td></tr>" for w, who, due in TASKS)
    html = (
        "<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head><meta http-equiv=Content-Type "
        "content=\"text/html; charset=windows-1252\"><style><!-- p.MsoNormal {margin:0cm; font-family:Calibri} "
        "--></style><!--[if gte mso 9]><xml><o:shapedefaults v:ext=\"edit\" spidmax=\"1026\" /></xml><![endif]-->"
        "</head><body lang=DE><div class=WordSection1>"
        "<p class=MsoNormal>Liebe Frau Schulze,<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
        "<p class=MsoNormal>hier unser Protokoll der Sitzung vom 12.03.2026.<o:p></o:p></p>"
        "<p class=MsoNormal><b>Teilnehmende:</b> Dr. Jürgen Weiß, Aylin Yılmaz, Maria Öztürk<o:p></o:p></p>"
        "<p class=MsoNormal><b>Wer übernimmt was?</b><o:p></o:p></p>"
        "<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0><tr><td><p class=MsoNormal><b>Was</b></p>"
        "</td><td><p class=MsoNormal><b>Wer</b></p></td><td><p class=MsoNormal><b>Bis wann</b></p></td></tr>"
        f"{rows}</table>"
        "<p class=MsoNormal>Budget: 1.200 € aus dem Bündnisfonds – „Gesundheitstag“<o:p></o:p></p>"
        "<p class=MsoNormal>Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen"
        "<o:p></o:p></p><p class=MsoNormal>Anmeldung unter <a href=\"https://www.buendnis-musterhausen.example/"
        "gesundheitstag\">unserer Seite</a><o:p></o:p></p>"
        "<p class=MsoNormal>Mit freundlichen Grüßen<br>Jürgen Weiß</p>"
        "<p class=MsoNormal><img width=1 height=1 src=\"cid:image001.png@01DC0000.12345670\" alt=Logo></p>"
        "</div></body></html>"
    ).replace("ı", "&#305;")  # not in Windows-1252: Outlook writes it as a character reference
    msg = base("Protokoll AG Gesundheit 12.03.")
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg["Thread-Index"] = "AdmT0k1wYm9zZWh0cmVpZ2U="
    msg.set_content(html, subtype="html", charset="windows-1252", cte="quoted-printable")
    msg.add_related(LOGO, "image", "png", cid="<image001.png@01DC0000.12345670>", filename="image001.png")
    write("outlook_html_tabelle.eml", msg)

    msg = base("Protokoll AG Gesundheit")
    msg.set_content("Hallo zusammen,\n\nim Anhang das Protokoll als Word-Datei.\n\nGruß\nJürgen\n")
    # declared as octet-stream, as many webmailers do: the type must be recognised from the content
    msg.add_attachment(docx_bytes(), "application", "octet-stream",
                       filename="Protokoll AG Gesundheit März 2026.docx")
    write("docx_anhang.eml", msg)

    msg = base("Protokoll Sitzung AG Unternehmen", sender=KRUEGER,
               message_id="<pdf-unternehmen-1@stadtwerke-musterhausen.example>")
    msg.set_content("Guten Tag,\n\nanbei das Protokoll unserer Sitzung als PDF.\n\nSabine Krüger\n")
    msg.add_attachment(pdf_bytes(), "application", "pdf", filename="Protokoll_AG_Unternehmen_2026-03-03.pdf")
    write("pdf_anhang.eml", msg)

    msg = base("Protokoll Erziehungslotsen", sender=OEZTUERK,
               message_id="<odt-lotsen-1@familienzentrum-regenbogen.example>")
    msg.set_content("Hallo Petra,\n\nhier das Protokoll (LibreOffice).\n\nLiebe Grüße\nMaria\n")
    msg.add_attachment(odt_bytes(), "application", "vnd.oasis.opendocument.text",
                       filename="Protokoll Lotsen.odt")
    # a hostile name: must never be usable as a path
    msg.add_attachment("Teilnehmerliste: Maria Öztürk; Aylin Yılmaz\n", filename="1234/../../teilnehmer.txt")
    write("odt_anhang.eml", msg)

    forwarded = ("-----Ursprüngliche Nachricht-----\n"
                 "Von: Weiß, Jürgen [mailto:j.weiss@gesundheitsamt-musterhausen.example]\n"
                 "Gesendet: Donnerstag, 12. März 2026 20:15\n"
                 "An: Öztürk, Maria <m.oeztuerk@familienzentrum-regenbogen.example>\n"
                 "Betreff: Ergebnisprotokoll AG Gesundheit vom 12.03.2026\n\n" + PROTOCOL)
    msg = base("WG: Ergebnisprotokoll AG Gesundheit vom 12.03.2026", sender=OEZTUERK,
               message_id="<wg-outlook-1@familienzentrum-regenbogen.example>")
    msg.set_content("Liebe Petra,\n\nzur Info das Protokoll von Jürgen, er ist diese Woche nicht im Haus.\n\n"
                    "Maria\n\n" + forwarded)
    write("weiterleitung_outlook.eml", msg)

    msg = base("Fwd: Protokoll", sender=OEZTUERK, message_id="<fwd-gmail-1@familienzentrum-regenbogen.example>")
    msg.set_content("Bitte ablegen, danke!\n\n---------- Forwarded message ---------\n"
                    "Von: Jürgen Weiß <j.weiss@gesundheitsamt-musterhausen.example>\n"
                    "Date: Do., 12. März 2026 um 20:15 Uhr\n"
                    "Subject: Ergebnisprotokoll AG Gesundheit vom 12.03.2026\n"
                    f"To: <{TO}>\n\n\n" + PROTOCOL)
    write("weiterleitung_gmail.eml", msg)

    msg = base("Weiterleitung: Protokoll", sender=OEZTUERK,
               message_id="<fwd-apple-1@familienzentrum-regenbogen.example>")
    msg.set_content("Zur Ablage.\n\nAnfang der weitergeleiteten Nachricht:\n\n"
                    "Von: Jürgen Weiß <j.weiss@gesundheitsamt-musterhausen.example>\n"
                    "Betreff: Ergebnisprotokoll AG Gesundheit vom 12.03.2026\n"
                    "Datum: 12. März 2026 um 20:15:00 MEZ\n"
                    f"An: {TO}\n\n" + PROTOCOL)
    write("weiterleitung_apple.eml", msg)

    inner = base("Ergebnisprotokoll AG Gesundheit vom 12.03.2026", message_id="<original-1@gesundheitsamt-"
                 "musterhausen.example>", to="m.oeztuerk@familienzentrum-regenbogen.example")
    inner.set_content(GREETING + PROTOCOL + SIGNATURE)
    msg = base("WG: Ergebnisprotokoll AG Gesundheit", sender=OEZTUERK,
               message_id="<wg-anhang-1@familienzentrum-regenbogen.example>")
    msg.set_content("Hallo Petra,\n\nich leite dir Jürgens Mail als Anhang weiter.\n\nMaria\n")
    msg.add_attachment(inner)
    write("weiterleitung_als_anhang.eml", msg)

    msg = base("AW: Ergebnisprotokoll AG Gesundheit vom 12.03.2026", message_id="<aw-1@gesundheitsamt-"
               "musterhausen.example>")
    msg["In-Reply-To"] = "<rueckfrage-1@buendnis-musterhausen.example>"
    msg.set_content("Liebe Frau Schulze,\n\nja, die Genehmigung ist beantragt, das Treffen am 21. April findet "
                    "statt.\n\nBeste Grüße\nJürgen Weiß\n\n"
                    "Am 14.03.2026 um 10:02 schrieb Petra Schulze <p.schulze@buendnis-musterhausen.example>:\n"
                    "> Lieber Herr Weiß,\n> ist die Genehmigung beantragt? Nächstes Treffen: 5. Mai 2026?\n"
                    "> Viele Grüße\n> Petra Schulze\n")
    write("antwort_mit_zitat.eml", msg)

    msg = base("AW: Protokoll", message_id="<aw-outlook-1@gesundheitsamt-musterhausen.example>")
    msg.set_content("Danke, passt so.\n\nJürgen Weiß\n\n________________________________\n"
                    "Von: Petra Schulze <p.schulze@buendnis-musterhausen.example>\n"
                    "Gesendet: Samstag, 14. März 2026 10:02\nAn: Weiß, Jürgen\nBetreff: Protokoll\n\n"
                    "Lieber Herr Weiß, das Treffen am 5. Mai fällt aus.\n")
    write("antwort_outlook_ohne_zitatzeichen.eml", msg)

    body = (GREETING + PROTOCOL + "\nDie Kosten (ca. 1.200 €) trägt der „Bündnisfonds“." + SIGNATURE)
    headers = (f"From: {_ascii_from(WEISS)}\nTo: {TO}\nSubject: Protokoll AG Gesundheit\nDate: {DATE}\n"
               "Message-ID: <cp1252-1@gesundheitsamt-musterhausen.example>\nMIME-Version: 1.0\n"
               "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n")
    body = body.replace("ı", "i").replace("\n", "\r\n")
    write("windows1252_ohne_charset.eml", headers.encode() + body.encode("cp1252"))

    body = (GREETING + PROTOCOL + SIGNATURE).replace("€", "Euro").replace("–", "-").replace("ı", "i")
    headers = (f"From: {WEISS}\nTo: {TO}\nSubject: Protokoll der Sitzung vom 12.03.2026 – Gesundheitstag für "
               f"Familien\nDate: {DATE}\nMessage-ID: <latin1-1@gesundheitsamt-musterhausen.example>\n"
               "MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\n")
    # the Subject and From carry raw 8-bit Latin-1, as old mailers send them
    write("iso88591_ohne_charset.eml",
          headers.replace("–", "-").encode("latin-1") + body.encode("latin-1"))

    write("kaputt_ohne_endgrenze.eml", (
        f"From: {_ascii_from(WEISS)}\nTo: {TO}\nSubject: Protokoll AG Gesundheit\nDate: {DATE}\n"
        "Message-ID: <kaputt-grenze-1@gesundheitsamt-musterhausen.example>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"==grenze==\"\n\n"
        "--==grenze==\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        + GREETING + PROTOCOL + "\n"
        "--==grenze==\nContent-Type: text/plain; charset=utf-8; name=\"notiz.txt\"\n"
        "Content-Disposition: attachment; filename=\"notiz.txt\"\n\nNotiz: Raum ist reserviert.\n"
    ).encode("utf-8"))

    write("kaputt_base64.eml", (
        f"From: {_ascii_from(WEISS)}\nTo: {TO}\nSubject: Protokoll AG Gesundheit (Base64)\nDate: {DATE}\n"
        "Message-ID: <kaputt-base64-1@gesundheitsamt-musterhausen.example>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
        "--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + _b64_broken(GREETING + PROTOCOL) +
        "\n--b1\nContent-Type: application/pdf; name=\"protokoll.pdf\"\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename=\"protokoll.pdf\"\n\nJVBERi0xLjQK!!!kaputt***\n--b1--\n"
    ).encode("ascii"))

    write("lf_ohne_datum_und_id.eml", (
        f"From: {WEISS}\nTo: {TO}\nSubject: Protokoll AG Gesundheit vom 12.03.2026\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + PROTOCOL
    ).encode("utf-8"))

    msg = base("Automatische Antwort: Ergebnisprotokoll AG Gesundheit", sender=KRUEGER,
               message_id="<ooo-1@stadtwerke-musterhausen.example>")
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content("Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 27. März 2026 nicht im Büro. "
                    "In dringenden Fällen wenden Sie sich bitte an zentrale@stadtwerke-musterhausen.example.\n")
    write("abwesenheitsnotiz.eml", msg)

    write("abwesenheitsnotiz_nur_betreff.eml", (
        f"From: {KRUEGER}\nTo: {TO}\nSubject: Abwesenheitsnotiz: Protokoll AG Gesundheit\nDate: {DATE}\n"
        "Message-ID: <ooo-2@stadtwerke-musterhausen.example>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "Ich bin im Urlaub und ab dem 30. März wieder erreichbar.\n"
    ).encode())

    write("unzustellbar_dsn.eml", (
        f"From: MAILER-DAEMON@mail.{DOMAIN} (Mail Delivery System)\nTo: bounces+42@{DOMAIN}\n"
        f"Subject: Undelivered Mail Returned to Sender\nDate: {DATE}\n"
        f"Message-ID: <dsn-1@mail.{DOMAIN}>\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"\n\n"
        "--dsn\nContent-Type: text/plain; charset=utf-8\n\nIhre Nachricht konnte nicht zugestellt werden.\n\n"
        "<alt.partner@kita-sonnenschein.example>: host mx.kita-sonnenschein.example said: 550 5.1.1 "
        "User unknown\n\n--dsn\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mail."
        f"{DOMAIN}\n\nFinal-Recipient: rfc822; alt.partner@kita-sonnenschein.example\nAction: failed\n"
        "Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
        "--dsn\nContent-Type: text/rfc822-headers\n\n"
        f"From: geschaeftsstelle@{DOMAIN}\nSubject: Einladung AG Gesundheit\n\n--dsn--\n"
    ).encode())


def _ascii_from(address: str) -> str:
    return address.replace("Jürgen Weiß", "Juergen Weiss")


def _b64_broken(text: str) -> str:
    import base64

    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    lines = [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    return "\n".join(lines).rstrip("=")[:-1]  # padding and one character missing, as a truncating mailer leaves it


if __name__ == "__main__":
    main()
