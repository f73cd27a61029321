"""Two hot spots of dkimpy's verification, made cheap without changing any result (bench/inbound.py
--sender-check: they were half of the sender check's time on a 10 KB protocol).

- Relaxed body canonicalisation (RFC 6376 3.4.4) replaces every run of spaces and tabs with one space by a
  regular expression: on ordinary text that is one substitution per word. A body without a tab, a double space
  or a space before a line end has nothing to compress or strip, so only the trailing empty lines are handled.
- `int2str`, the integer-to-bytes step of the RSA check, is a Python loop over the key's 256 bytes;
  `int.to_bytes` does the same in C.

`install()` is called where the sender check is imported; tests/test_sender_auth.py checks both against
dkimpy's own functions on generated input.
"""

from __future__ import annotations

import dkim.canonicalization
import dkim.crypto

_relaxed_body = dkim.canonicalization.Relaxed.canonicalize_body


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


def install() -> None:
    dkim.canonicalization.Relaxed.canonicalize_body = staticmethod(relaxed_body)
    dkim.crypto.int2str = int2str
