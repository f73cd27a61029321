"""hub/inbound/smtp_paths.py reads MAIL FROM and RCPT TO paths exactly as aiosmtpd does, only faster for plain
ones: compared with aiosmtpd's own `_getaddr` on generated paths, plain and not."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given
from hypothesis import strategies as st

from hub.inbound.smtp_paths import PlainPaths


class _Probe(PlainPaths, SMTP):
    pass


def _probe(limit: int = 0) -> _Probe:
    probe = _Probe.__new__(_Probe)  # only _getaddr is called, which reads nothing but the local part limit
    probe.local_part_limit = limit
    return probe


_LOCAL = st.text(alphabet="abcXYZ09.!#$%&'*+/=?^_`{|}~-\" \\()ü@", min_size=0, max_size=12)
_DOMAIN = st.text(alphabet="abcXYZ09-.[]ü _:", min_size=0, max_size=12)
_REST = st.one_of(st.sampled_from(["", " SIZE=10240", " BODY=8BITMIME SMTPUTF8", ">", " ", "x", "<y@z>"]),
                  st.text(alphabet=" \t\x0b\u3000()SIZE=1x", max_size=8))


@given(_LOCAL, _DOMAIN, _REST, st.sampled_from(["<{}@{}>{}", "{}@{}{}", " <{}@{}>{}", "<@relay.example:{}@{}>{}",
                                                 "<{}@{}{}", "<{} @{}>{}"]), st.sampled_from([0, 4, 64]))
def test_paths_are_read_as_aiosmtpd_reads_them(local, domain, rest, form, limit):
    arg = form.format(local, domain, rest)
    assert _outcome(_probe(limit)._getaddr, arg) == _outcome(lambda a: SMTP._getaddr(_probe(limit), a), arg)


def _outcome(read, arg):
    """What reading `arg` gives, or the error it raises (aiosmtpd's parser raises IndexError on "<@")."""
    try:
        return read(arg)
    except Exception as error:  # noqa: BLE001 — compared, not handled
        return type(error)


@pytest.mark.parametrize(("arg", "expected"), [
    ("<Anna.Schmidt@awo-musterhausen.example> SIZE=10240", ("Anna.Schmidt@awo-musterhausen.example", "SIZE=10240")),
    ("<protokolle@buendnis-musterhausen.example>", ("protokolle@buendnis-musterhausen.example", "")),
    ("<ag+gesundheit@example.org>  NOTIFY=NEVER", ("ag+gesundheit@example.org", "NOTIFY=NEVER")),
])
def test_a_plain_path_does_not_need_the_header_parser(monkeypatch, arg, expected):
    monkeypatch.setattr(SMTP, "_getaddr", lambda self, arg: pytest.fail("the header parser was asked"))
    assert _probe(64)._getaddr(arg) == expected


def test_the_local_part_limit_holds_for_plain_paths():
    assert _probe(4)._getaddr("<annaschmidt@example.org>") == (None, None)
    assert _probe(4)._getaddr("<anna@example.org>") == ("anna@example.org", "")
