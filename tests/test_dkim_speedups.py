"""hub/inbound/dkim_speedups.py gives exactly what dkimpy's own functions give."""

from __future__ import annotations

import dkim
import dkim.canonicalization
import dkim.crypto
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.inbound import dkim_speedups, sender_check  # noqa: F401  (importing the check installs the speed-ups)

# Bodies made of what matters to relaxed canonicalisation: spaces, tabs, line ends, letters.
bodies = st.lists(st.sampled_from([b" ", b"  ", b"\t", b"\r\n", b"a", b"Wort", b"\xc3\xa4", b"\n", b"\r"]),
                  max_size=40).map(b"".join)


@given(bodies)
def test_relaxed_body_canonicalisation_is_dkimpys(body):
    assert dkim_speedups.relaxed_body(body) == dkim_speedups._relaxed_body(body)


# Messages made of header lines, continuation lines, odd lines, empty lines and both line endings.
messages = st.lists(st.sampled_from([b"From: a@b.example", b"Subject: Hallo", b" folded", b"\tfolded", b"", b"",
                                     b"Text", b"From x", b"kein Kopf", b"\r", b"a\rb"]), max_size=14).flatmap(
    lambda lines: st.lists(st.sampled_from([b"\r\n", b"\n"]), min_size=len(lines), max_size=len(lines)).map(
        lambda ends: b"".join(line + end for line, end in zip(lines, ends, strict=True))))


@given(messages, st.sampled_from([b"", b"Schluss", b"\r\n"]))
def test_rfc822_parse_is_dkimpys(message, tail):
    message += tail
    try:
        expected = dkim_speedups._rfc822_parse(message)
    except (dkim.MessageFormatError, IndexError) as error:
        with pytest.raises(type(error)):
            dkim_speedups.rfc822_parse(message)
        return
    assert dkim_speedups.rfc822_parse(message) == expected


@given(st.integers(min_value=0, max_value=2 ** 4100), st.integers(min_value=-1, max_value=520))
def test_int2str_is_dkimpys(n, length):
    assert dkim_speedups.int2str(n, length) == _dkimpy_int2str(n, length)


def test_the_check_uses_them():
    assert dkim.rfc822_parse is dkim_speedups.rfc822_parse
    assert dkim.crypto.int2str is dkim_speedups.int2str
    assert dkim.canonicalization.Relaxed.canonicalize_body is dkim_speedups.relaxed_body


def _dkimpy_int2str(n, length=-1):
    """dkimpy 1.1's int2str, as it stands in dkim/crypto.py (the module attribute is replaced)."""
    r = bytearray()
    while length < 0 or len(r) < length:
        r.append(n & 0xff)
        n >>= 8
        if length < 0 and n == 0:
            break
    r.reverse()
    return r
