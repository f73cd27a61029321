"""One signing scheme for every token: purposes never mix, and malformed input is invalid, never an error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub import signing

KEY = b"k" * 32


def test_round_trip_and_purposes_do_not_mix():
    token = signing.sign(KEY, "unsubscribe", "42")
    assert signing.unsign(KEY, "unsubscribe", token) == "42"
    assert signing.unsign(KEY, "subscribe", token) is None
    assert signing.unsign(b"other key", "unsubscribe", token) is None
    assert signing.unsign(KEY, "unsubscribe", token.replace("42.", "43.")) is None


def test_caseless_signatures_survive_a_lower_cased_local_part():
    sig = signing.signature(KEY, "verp", "1234", 10, caseless=True)
    assert sig == sig.lower() and len(sig) == 10
    assert signing.valid(KEY, "verp", "1234", sig.upper(), 10, caseless=True)
    assert not signing.valid(KEY, "verp", "1235", sig, 10, caseless=True)


def test_non_ascii_and_cut_tokens_are_invalid_not_errors():
    token = signing.sign(KEY, "csrf", "abc")
    for bad in ("", ".", "abc", "abc.", token[:-1], token + "x", "abc.ä" + token[-21:], "ß.ü", None, "\x00.\x00"):
        assert signing.unsign(KEY, "csrf", bad) is None


@given(st.text(max_size=80))
def test_no_text_ever_raises(text):
    assert signing.unsign(KEY, "confirm", text) in (None, text.strip().rpartition(".")[0])
    signing.valid(KEY, "verp", text, text, 10, caseless=True)
