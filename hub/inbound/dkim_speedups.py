"""Four hot spots of dkimpy's verification, made cheap without changing any result (bench/inbound.py
--sender-check: they were two thirds of the sender check's time on a 10 KB protocol).

- `rfc822_parse` splits the whole message into lines to find the end of its header, then joins the body's
  lines again: for a 27 MB mail (a 20 MB attachment) that is 370,000 line objects and two more copies of the
  body. Here only the header is split, and a body whose lines all end in CRLF is taken as it is.

- Relaxed body canonicalisation (RFC 6376 3.4.4) replaces every run of spaces and tabs with one space by a
  regular expression: on ordinary text that is one substitution per word. A body without a tab, a double space
  or a space before a line end has nothing to compress or strip, so only the trailing empty lines are handled.
- `int2str`, the integer-to-bytes step of dkimpy's RSA, is a Python loop over the key's 256 bytes;
  `int.to_bytes` does the same in C.
- The RSA check itself is Python's `pow` on 2048-bit numbers, 0.3 ms a signature; OpenSSL (pyca/cryptography)
  opens the signature in a tenth of that, and what it holds must be exactly dkimpy's DigestInfo of the hash.

`install()` is called where the sender check is imported; tests/test_dkim_speedups.py checks each against
dkimpy's own functions on generated input.
"""

from __future__ import annotations

import re

import dkim
import dkim.canonicalization
import dkim.crypto
from dkim.asn1 import NULL, OBJECT_IDENTIFIER, OCTET_STRING, SEQUENCE

_relaxed_body = dkim.canonicalization.Relaxed.canonicalize_body
_rfc822_parse = dkim.rfc822_parse
_LINE_END = re.compile(rb"\r?\n")
_HEADER_NAME = re.compile(rb"([\x21-\x7e]+?):")


def rfc822_parse(message: bytes) -> tuple[list[list[bytes]], bytes]:
    headers: list[list[bytes]] = []
    position = 0
    for end in _LINE_END.finditer(message):
        line = message[position:end.start()]
        position = end.end()
        if not line:
            return headers, _crlf_lines(message[position:])
        _header_line(headers, line)
    if message[position:]:
        _header_line(headers, message[position:])
    return headers, b""


def _header_line(headers: list[list[bytes]], line: bytes) -> None:
    """dkimpy's handling of one header line, as it stands in its rfc822_parse."""
    if line[0] in (0x09, 0x20):
        headers[-1][1] += line + b"\r\n"
        return
    m = _HEADER_NAME.match(line)
    if m is not None:
        headers.append([m.group(1), line[m.end(0):] + b"\r\n"])
    elif not line.startswith(b"From "):
        raise dkim.MessageFormatError(f"Unexpected characters in RFC822 header: {line!r}")


def _crlf_lines(body: bytes) -> bytes:
    """The body with each line ending (CRLF or a bare LF) as CRLF."""
    if body.count(b"\n") == body.count(b"\r\n"):
        return body
    return _LINE_END.sub(b"\r\n", body)


def relaxed_body(body: bytes) -> bytes:
    if b"\t" in body or b"  " in body or b" \r\n" in body:
        return _relaxed_body(body)
    return dkim.canonicalization.correct_empty_body(dkim.canonicalization.strip_trailing_lines(body))


def int2str(n: int, length: int = -1) -> bytearray:
    assert n >= 0
    if length < 0:
        return bytearray(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))
    # dkimpy's loop stops after `length` bytes: a larger number keeps its low bytes
    return bytearray((n & ((1 << 8 * length) - 1)).to_bytes(length, "big"))


def rsa_verify(hash, signature: bytes, public_key: dict) -> bool:
    """dkimpy's RSASSA_PKCS1_v1_5_verify(hash, signature, public_key), with OpenSSL's RSA."""
    # lazy: the bindings are 6 MB of a process's memory, and a hub behind a trusted MTA checks no signature
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    modulus = public_key["modulus"]
    # dkimpy takes the signature as a number, whatever its length, and its `pow` reduces it: OpenSSL wants it
    # below the modulus, in exactly the modulus's length.
    number = int.from_bytes(signature, "big") % modulus if modulus > 0 else 0
    try:
        key = rsa.RSAPublicNumbers(public_key["publicExponent"], modulus).public_key()
        opened = key.recover_data_from_signature(number.to_bytes((modulus.bit_length() + 7) // 8, "big"),
                                                 padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):  # not a signature of this key's size, or a key OpenSSL refuses
        return False
    return opened == _digest_info(hash)


def _digest_info(hash) -> bytes:
    """What dkimpy's EMSA_PKCS1_v1_5_encode puts after the padding."""
    return dkim.crypto.asn1_build((SEQUENCE, [
        (SEQUENCE, [(OBJECT_IDENTIFIER, dkim.crypto.HASH_ID_MAP[hash.name.lower()]), (NULL, None)]),
        (OCTET_STRING, hash.digest()),
    ]))


def install() -> None:
    dkim.rfc822_parse = rfc822_parse
    dkim.canonicalization.Relaxed.canonicalize_body = staticmethod(relaxed_body)
    dkim.crypto.int2str = int2str
    dkim.RSASSA_PKCS1_v1_5_verify = rsa_verify
