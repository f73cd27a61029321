"""Text from the documents a protocol comes in: DOCX, PDF, ODT, plain text, CSV and HTML.

The type is recognised from the bytes (magic numbers, ZIP member names), because mailers declare
`application/octet-stream` for half of what they send. Nothing here raises: a document that cannot be read
gives its error as a sentence, and the mail is filed anyway with the file kept.

Attachments come from anyone: the limits of `ReadLimits` (unpacked size, compression ratio and member count of
ZIP-based formats, pages of a PDF) hold here, in whatever process reads, before a reader is handed the bytes.
Time and memory are bounded by the worker process of hub/inbound/sandbox.py, which runs this module.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile

from hub.inbound.extraction_limits import (
    DEFAULT_LIMITS,
    MB,
    ZIP_METHODS,
    LimitExceeded,
    ReadLimits,
    check_zip,
    not_extracted,
    pdf_pages_over,
    too_big,
)
from hub.inbound.html import html_to_text

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
PDF = "application/pdf"

_MAGIC = [
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"{\\rtf", "application/rtf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # legacy .doc/.xls: no text read
    (b"BEGIN:VCALENDAR", "text/calendar"),
]
_TEXT_SUFFIXES = {".txt": "text/plain", ".csv": "text/csv", ".htm": "text/html", ".html": "text/html",
                  ".md": "text/plain", ".ics": "text/calendar"}
logging.getLogger("pypdf").setLevel(logging.ERROR)  # a damaged PDF is reported in Attachment.error, not logged

_CR = re.compile(r"\r+\n?")


def recognise(data: bytes, declared_type: str, filename: str) -> str:
    """The content type from the bytes where they say it, else from the declaration or the file name."""
    head = data[:16]
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    # %PDF- may come after a few bytes of junk (allowed by readers within the first KB)
    if b"%PDF-" in data[:1024]:
        return PDF
    declared = (declared_type or "").lower()
    if declared.startswith("text/") or declared in ("application/csv", "application/xhtml+xml"):
        return declared
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in _TEXT_SUFFIXES and _looks_textual(data):
        return _TEXT_SUFFIXES[suffix]
    return declared or "application/octet-stream"


def _zip_type(data: bytes) -> str:
    # This runs in the filing process itself (mime.py recognises every attachment): an ODT's `mimetype` member
    # that unpacks to 500 MB must cost no more than its first 100 bytes. A deflated member read through
    # `open` unpacks only what is asked for; bzip2 and LZMA unpack whole blocks, so they are not read at all.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and archive.getinfo("mimetype").compress_type in ZIP_METHODS:
                with archive.open("mimetype") as member:
                    mimetype = member.read(100).decode("ascii", "replace").strip()
                if mimetype:
                    return mimetype
            if "word/document.xml" in names:
                return DOCX
            if "xl/workbook.xml" in names:
                return XLSX
            if "ppt/presentation.xml" in names:
                return PPTX
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError):
        pass
    return "application/zip"


def _looks_textual(data: bytes) -> bool:
    return b"\x00" not in data[:4096]


def document_text(data: bytes, declared_type: str, filename: str, charset: str | None = None,
                  limits: ReadLimits = DEFAULT_LIMITS) -> tuple[str, str | None, str]:
    """(text, error or None, recognised content type) of an attachment; never raises.

    `charset` is the one the mail declared for a text attachment, if any. A document over one of `limits`
    gives no text and the error `not_extracted(…)`."""
    content_type = recognise(data, declared_type, filename)
    try:
        if content_type == DOCX:
            check_zip(data, limits)
            text = _docx_text(data)
        elif content_type == PDF:
            text = _pdf_text(data, limits)
        elif content_type == ODT:
            check_zip(data, limits)
            text = _odt_text(data)
        elif content_type in ("text/html", "application/xhtml+xml"):
            text = html_to_text(decode_text(data, charset))
        elif content_type.startswith("text/") or content_type == "application/csv":
            text = decode_text(data, charset)
        else:
            return "", None, content_type
    except LimitExceeded as exc:
        return "", not_extracted(str(exc)), content_type
    except MemoryError:  # the worker's address space limit (sandbox.py): the document needs more than it may
        return "", not_extracted(too_big("Speicher")), content_type
    except Exception as exc:  # third-party readers raise anything on broken files
        return "", f"Der Text des Dokuments konnte nicht gelesen werden ({type(exc).__name__}: {exc})"[:500], \
            content_type
    text = _CR.sub("\n", text).replace("\x00", "").strip()
    if not text and content_type == PDF:
        return "", "Das PDF enthält keinen lesbaren Text (vielleicht ein eingescanntes Bild).", content_type
    return text[:limits.max_chars], None, content_type


def decode_text(data: bytes, declared_charset: str | None = None) -> str:
    """Bytes of text in whatever charset they came in: declared, UTF-8, or detected (charset-normalizer)."""
    if declared_charset:
        try:
            text = data.decode(declared_charset)
        except (LookupError, UnicodeDecodeError):
            text = _truncated_utf8(data) if declared_charset.lower().replace("_", "-") in ("utf-8", "utf8") else None
        if text is not None:
            return _fix_declared(data, declared_charset, text)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if data.isascii():
        return data.decode("ascii")
    return _detect(data)


def _truncated_utf8(data: bytes) -> str | None:
    """UTF-8 cut off inside the last character (a truncated transfer): keep all but that character."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            try:
                return data[: exc.start].decode("utf-8") + "\ufffd"
            except UnicodeDecodeError:
                return None
    return None


_LATIN = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii", "iso-8859-15", "iso8859-15",
          "windows-1252", "cp1252"}


def _fix_declared(data: bytes, charset: str, text: str) -> str:
    """Correct the commonest lies: UTF-8 sent as Latin-1, and Windows-1252 (€ „ “) sent as ISO-8859-1."""
    charset = charset.lower()
    if charset in _LATIN and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if charset in ("iso-8859-1", "iso8859-1", "latin-1", "latin1") and any(0x80 <= b <= 0x9F for b in data):
            return data.decode("cp1252", "replace")
    return text


def import_readers() -> None:
    """Import every document reader now (they are imported on first use otherwise): the sandbox's worker does
    this before its first document, so that a document's time limit measures reading it, not the imports."""
    import charset_normalizer  # noqa: F401
    import docx  # noqa: F401
    import odf.opendocument  # noqa: F401
    import odf.teletype  # noqa: F401
    import pypdf  # noqa: F401


# Mail that reaches the hub is German or from elsewhere in Europe; other scripts declare their charset.
# Limiting the candidates keeps the detector from reading a short German text as, say, Big5.
_CANDIDATES = ["utf_8", "cp1252", "iso8859_15", "cp1250", "iso8859_2", "cp1251", "koi8_r", "utf_16"]


def _detect(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000], cp_isolation=_CANDIDATES).best()
    encoding = best.encoding if best is not None else "cp1252"
    if encoding in ("cp1252", "cp1250", "iso8859_2", "iso8859_15"):
        # These agree on German umlauts and ß. Windows-1252 has € and the typographic quotes at 0x80–0x9f (what
        # Outlook sends undeclared); without those bytes, 0xa4 is ISO-8859-15's € (as ¤ it is never meant).
        has_c1 = any(0x80 <= b <= 0x9F for b in data)
        encoding = "iso8859_15" if not has_c1 and 0xA4 in data else "cp1252"
    return data.decode(encoding, "replace")


def _docx_text(data: bytes) -> str:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append(Paragraph(block, document).text)
        elif tag == "tbl":
            for row in Table(block, document).rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                        cells.append(text)
                if cells:
                    lines.append(" | ".join(cells))
    return "\n".join(lines)


def _pdf_text(data: bytes, limits: ReadLimits) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ValueError("das PDF ist verschlüsselt")
    # pypdf reads the whole page tree on the first page asked for (100,000 pages: 280 MB, 6 s): count first.
    if pdf_pages_over(reader.trailer["/Root"]["/Pages"], limits.max_pdf_pages):
        raise LimitExceeded(too_big(f"über {limits.max_pdf_pages} Seiten"))
    pages: list[str] = []
    chars = unpacked = 0
    for number, page in enumerate(reader.pages, 1):
        if number > limits.max_pdf_pages:  # pypdf may see the tree otherwise than the count above
            raise LimitExceeded(too_big(f"über {limits.max_pdf_pages} Seiten"))
        # Pages may share one content stream: 17 KB of PDF can make each of many pages parse the same 4 MB.
        # The unpacked stream is cached by pypdf, so measuring it costs nothing extra.
        contents = page.get_contents()
        unpacked += len(contents.get_data()) if contents is not None else 0
        if unpacked > limits.max_unpacked_bytes:
            raise LimitExceeded(too_big(f"Seiteninhalt über {limits.max_unpacked_bytes // MB} MB"))
        pages.append(page.extract_text() or "")
        chars += len(pages[-1])
        if chars > limits.max_chars:
            break
    return "\n\n".join(p.strip() for p in pages)


def _odt_text(data: bytes) -> str:
    from odf import teletype
    from odf.opendocument import load

    document = load(io.BytesIO(data))
    lines: list[str] = []

    def walk(node) -> None:
        for child in node.childNodes:
            name = getattr(child, "qname", None)
            if not name:
                continue
            local = name[1]
            if local == "table-row":
                cells = [" ".join(teletype.extractText(cell).split()) for cell in child.childNodes
                         if getattr(cell, "qname", ("", ""))[1] == "table-cell"]
                cells = [c for c in cells if c]
                if cells:
                    lines.append(" | ".join(cells))
            elif local in ("p", "h"):
                lines.append(teletype.extractText(child))
            else:
                walk(child)

    walk(document.text)
    return "\n".join(lines)
