"""hub/inbound/dkim_speedups.py gives exactly what dkimpy's own functions give."""

from __future__ import annotations

import hashlib

import dkim
import dkim.canonicalization
import dkim.crypto
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
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


_KEYS = {size: rsa.generate_private_key(65537, size) for size in (1024, 2048)}
_HASHES = {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}


def _dkimpy_verify(hash, signature, public_key) -> bool:
    """dkimpy's own check (`install` replaces the name dkim's verification calls, not the function)."""
    return dkim.crypto.RSASSA_PKCS1_v1_5_verify(hash, signature, public_key)


@given(st.sampled_from(sorted(_KEYS)), st.sampled_from(sorted(_HASHES)), st.binary(max_size=64),
       st.sampled_from(["as signed", "other text", "bit flipped", "shorter", "longer", "other key", "random"]),
       st.integers(min_value=0, max_value=2 ** 16))
def test_rsa_verify_is_dkimpys(size, hash_name, text, change, where):
    key = _KEYS[size]
    numbers = key.public_key().public_numbers()
    public_key = {"modulus": numbers.n, "publicExponent": numbers.e}
    signature = key.sign(text, padding.PKCS1v15(), _HASHES[hash_name])
    signed = text
    if change == "other text":
        signed = text + b"!"
    elif change == "bit flipped":
        flipped = bytearray(signature)
        flipped[where % len(flipped)] ^= 1 << (where % 8)
        signature = bytes(flipped)
    elif change == "shorter":
        # The last byte, not the first: a signature whose first byte is zero is still valid without it.
        signature = signature[:-1]
    elif change == "longer":
        signature = b"\x00" + signature
    elif change == "other key":
        signature = _KEYS[3072 - size].sign(text, padding.PKCS1v15(), _HASHES[hash_name])
    elif change == "random":
        signature = where.to_bytes(len(signature), "big")
    digest = hashlib.new(hash_name, signed)
    assert dkim_speedups.rsa_verify(digest, signature, public_key) == _dkimpy_verify(digest, signature, public_key)
    assert dkim_speedups.rsa_verify(digest, signature, public_key) == (change in ("as signed", "longer"))


def test_rsa_verify_takes_a_signature_above_the_modulus_as_dkimpy_does():
    key = _KEYS[2048]
    numbers = key.public_key().public_numbers()
    public_key = {"modulus": numbers.n, "publicExponent": numbers.e}
    signature = key.sign(b"Protokoll", padding.PKCS1v15(), hashes.SHA256())
    above = (int.from_bytes(signature, "big") + numbers.n).to_bytes(257, "big")
    digest = hashlib.sha256(b"Protokoll")
    assert _dkimpy_verify(digest, above, public_key)
    assert dkim_speedups.rsa_verify(digest, above, public_key)


def test_rsa_verify_takes_a_signature_without_its_leading_zero_as_dkimpy_does():
    """One signature in 256 begins with a zero byte, which a signer may leave out."""
    key = _KEYS[1024]
    numbers = key.public_key().public_numbers()
    public_key = {"modulus": numbers.n, "publicExponent": numbers.e}
    text, signature = next((text, signature) for text in (b"%d" % i for i in range(5000))
                           if (signature := key.sign(text, padding.PKCS1v15(), hashes.SHA256()))[0] == 0)
    digest = hashlib.sha256(text)
    assert _dkimpy_verify(digest, signature[1:], public_key)
    assert dkim_speedups.rsa_verify(digest, signature[1:], public_key)


def test_the_check_uses_them():
    assert dkim.rfc822_parse is dkim_speedups.rfc822_parse
    assert dkim.crypto.int2str is dkim_speedups.int2str
    assert dkim.canonicalization.Relaxed.canonicalize_body is dkim_speedups.relaxed_body
    assert dkim.RSASSA_PKCS1_v1_5_verify is dkim_speedups.rsa_verify


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
