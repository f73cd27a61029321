"""Hostile attachments, built at test time (no bomb is committed): ZIP bombs in DOCX and ODT, an ODT whose
`mimetype` unpacks to hundreds of MB, a ZIP whose directory lies, and PDFs that cost time or memory out of
proportion to their size. Each is a function returning bytes; `documents()` lists them for tests and benches.

Bombs are written by hand: a deflate segment that ends with a full flush is self-contained, so one segment
of a repeated megabyte, repeated N times, unpacks to N MB and costs nothing to build. Their CRC is left 0:
a reader does its damage before it gets to the end of a member and checks it.
"""

from __future__ import annotations

import bz2
import random
import struct
import zlib
from functools import lru_cache

MB = 1024 * 1024
STORED, DEFLATED, BZIP2 = 0, 8, 12

DOCX_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
              b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
              b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
              b'<Default Extension="xml" ContentType="application/xml"/>'
              b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument'
              b'.wordprocessingml.document.main+xml"/></Types>')
DOCX_RELS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
             b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
             b'officeDocument" Target="word/document.xml"/></Relationships>')
DOCX_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.'
             b'openxmlformats.org/wordprocessingml/2006/main"><w:body>')
DOCX_TAIL = b"</w:body></w:document>"
ODT_TYPE = b"application/vnd.oasis.opendocument.text"
ODT_MANIFEST = (b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                b'opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/"'
                b' manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:'
                b'full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
ODT_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:'
            b'opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
            b'office:version="1.2"><office:body><office:text>')
ODT_TAIL = b"</office:text></office:body></office:document-content>"


# --- ZIP by hand -------------------------------------------------------------------------------------------

def _member(name: str, packed: bytes, method: int, size: int, crc: int = 0) -> tuple:
    return (name.encode(), packed, method, size, crc)


def _stored(name: str, data: bytes) -> tuple:
    return _member(name, data, STORED, len(data), zlib.crc32(data))


def _deflated(name: str, data: bytes) -> tuple:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return _member(name, packer.compress(data) + packer.flush(), DEFLATED, len(data), zlib.crc32(data))


def _segment(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(zlib.Z_FULL_FLUSH)


def _deflated_bomb(name: str, head: bytes, chunk: bytes, count: int, tail: bytes, crc: bool = False) -> tuple:
    """head + chunk × count + tail, deflated from one packed chunk; with its CRC if `crc` (it takes a while)."""
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    packed = _segment(head) + _segment(chunk) * count + _segment(tail) + final
    checksum = 0
    if crc:
        checksum = zlib.crc32(head)
        for _ in range(count):
            checksum = zlib.crc32(chunk, checksum)
        checksum = zlib.crc32(tail, checksum)
    return _member(name, packed, DEFLATED, len(head) + len(chunk) * count + len(tail), checksum)


def _zip(members: list[tuple], declared_sizes: dict[str, int] | None = None) -> bytes:
    """A ZIP of (name, packed bytes, method, unpacked size, crc); `declared_sizes` makes local headers and the
    central directory lie about a member's unpacked size."""
    declared_sizes = declared_sizes or {}
    body, directory = bytearray(), bytearray()
    for name, packed, method, size, crc in members:
        size = declared_sizes.get(name.decode(), size)
        offset = len(body)
        fields = struct.pack("<HHHHHIII", 20, 0, method, 0, 0x21, crc, len(packed), size)
        body += b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name + packed
        directory += (b"PK\x01\x02" + struct.pack("<H", 20) + fields
                      + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, offset) + name)
    end = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return bytes(body + directory + b"PK\x05\x06" + end)


@lru_cache(maxsize=1)
def _chunk_100_to_1() -> bytes:
    """A megabyte of DOCX paragraphs that deflates about 100:1 (long runs, a random byte in each)."""
    rng = random.Random(11)
    parts, size = [], 0
    while size < MB:
        part = b"<w:p><w:r><w:t>" + b"a" * 400 + rng.randbytes(1).hex().encode() + b"</w:t></w:r></w:p>"
        parts.append(part)
        size += len(part)
    return b"".join(parts)[:MB]


_RUN = b"<w:p><w:r><w:t>" + b"x" * (MB - 33) + b"</w:t></w:r></w:p>"  # one MB, deflates about 1000:1


def _docx(document: tuple) -> bytes:
    return _zip([_deflated("[Content_Types].xml", DOCX_TYPES), _deflated("_rels/.rels", DOCX_RELS), document])


def _odt(content: tuple, mimetype: tuple | None = None) -> bytes:
    return _zip([mimetype or _stored("mimetype", ODT_TYPE), _deflated("META-INF/manifest.xml", ODT_MANIFEST),
                 content])


# --- the documents -----------------------------------------------------------------------------------------

def docx_bomb_100() -> bytes:
    """word/document.xml of 200 MB packed about 100:1 (2 MB)."""
    return _docx(_deflated_bomb("word/document.xml", DOCX_HEAD, _chunk_100_to_1(), 200, DOCX_TAIL))


def docx_bomb_1000() -> bytes:
    """word/document.xml of 1 GB in 1 MB: the most deflate packs (the kind that took filing to 813 MB)."""
    return _docx(_deflated_bomb("word/document.xml", DOCX_HEAD, _RUN, 1024, DOCX_TAIL))


@lru_cache(maxsize=4)
def _bzip2(head: bytes, megabytes: int, tail: bytes) -> bytes:
    packer = bz2.BZ2Compressor(9)
    packed = [packer.compress(head)] + [packer.compress(_RUN) for _ in range(megabytes)]
    return b"".join(packed) + packer.compress(tail) + packer.flush()


def _bzip2_bomb(name: str, head: bytes, megabytes: int, tail: bytes) -> tuple:
    return _member(name, _bzip2(head, megabytes, tail), BZIP2, len(head) + megabytes * MB + len(tail))


def docx_bomb_10000() -> bytes:
    """word/document.xml of 40 MB in bzip2, far beyond 10,000:1 (zipfile unpacks a bzip2 block whole)."""
    return _docx(_bzip2_bomb("word/document.xml", DOCX_HEAD, 40, DOCX_TAIL))


def docx_many_paragraphs(megabytes: int = 60) -> bytes:
    """A well-formed DOCX of `megabytes` MB of short paragraphs (packed about 1000:1): within loosened ZIP
    limits, python-docx needs many times that in memory."""
    paragraph = b"<w:p><w:r><w:t>Protokoll der AG Gesundheit</w:t></w:r></w:p>"
    chunk = paragraph * (MB // len(paragraph))
    return _docx(_deflated_bomb("word/document.xml", DOCX_HEAD, chunk, megabytes, DOCX_TAIL, crc=True))


def odt_bomb_100() -> bytes:
    """content.xml of 200 MB packed about 100:1."""
    return _odt(_deflated_bomb("content.xml", ODT_HEAD, _chunk_100_to_1(), 200, ODT_TAIL))


def odt_bomb_10000() -> bytes:
    """content.xml of 40 MB in bzip2, far beyond 10,000:1."""
    return _odt(_bzip2_bomb("content.xml", ODT_HEAD, 40, ODT_TAIL))


def odt_mimetype_bomb() -> bytes:
    """An ODT whose `mimetype` member unpacks to 500 MB (the content type, then spaces); read to recognise it."""
    mimetype = _deflated_bomb("mimetype", ODT_TYPE, b" " * MB, 500, b"")
    content = _deflated("content.xml", ODT_HEAD + b"<text:p>Protokoll</text:p>" + ODT_TAIL)
    return _odt(content, mimetype)


def zip_lying_directory() -> bytes:
    """A DOCX whose directory and local header say word/document.xml is 2 KB; its stream unpacks to 300 MB."""
    document = _deflated_bomb("word/document.xml", DOCX_HEAD, _RUN, 300, DOCX_TAIL)
    return _zip([_deflated("[Content_Types].xml", DOCX_TYPES), _deflated("_rels/.rels", DOCX_RELS), document],
                declared_sizes={"word/document.xml": 2048})


def _pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF of numbered objects (1, 2, …) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def pdf_shared_content(pages: int = 200, megabytes: int = 4) -> bytes:
    """`pages` pages that all show one content stream of `megabytes` MB of empty text (a 17 KB PDF of this
    kind held filing up for 62 s; pypdf takes some 10 s a page). Without a font pypdf would skip the text."""
    stream = zlib.compress(b"BT () Tj ET\n" * (megabytes * MB // 12), 9)
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 595 842] >>" % (kids, pages),
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objects += [b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents 3 0 R >>"] * pages
    return _pdf(objects)


def pdf_many_pages(pages: int = 100_000, count: int | None = None) -> bytes:
    """A PDF of `pages` empty pages; `count` makes the page tree's /Count lie."""
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 595 842] >>" % (kids, count or pages)]
    objects += [b"<< /Type /Page /Parent 2 0 R >>"] * pages
    return _pdf(objects)


def pdf_lying_page_count() -> bytes:
    """100,000 pages whose page tree says /Count 1: the page limit holds only while reading them."""
    return pdf_many_pages(count=1)


HOSTILE = [
    ("docx_bomb_100", "protokoll.docx", docx_bomb_100),
    ("docx_bomb_1000", "protokoll.docx", docx_bomb_1000),
    ("docx_bomb_10000", "protokoll.docx", docx_bomb_10000),
    ("docx_many_paragraphs", "protokoll.docx", docx_many_paragraphs),
    ("odt_bomb_100", "protokoll.odt", odt_bomb_100),
    ("odt_bomb_10000", "protokoll.odt", odt_bomb_10000),
    ("odt_mimetype_bomb", "protokoll.odt", odt_mimetype_bomb),
    ("zip_lying_directory", "protokoll.docx", zip_lying_directory),
    ("pdf_shared_content", "protokoll.pdf", pdf_shared_content),
    ("pdf_100000_pages", "protokoll.pdf", pdf_many_pages),
    ("pdf_lying_page_count", "protokoll.pdf", pdf_lying_page_count),
]


def documents() -> list[tuple[str, str, bytes]]:
    """(name, file name, bytes) of every hostile document."""
    return [(name, filename, build()) for name, filename, build in HOSTILE]
