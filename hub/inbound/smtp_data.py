"""DATA straight to the spool: what arrives is written to a spool draft block by block, so the listener's
memory stays flat in the size of a message."""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import MISSING

from hub.inbound import spool

log = logging.getLogger("hub.inbound.smtp")


class SpoolingData:
    """aiosmtpd's DATA command with two changes: what arrives is written to a spool draft instead of being
    kept, so memory stays flat in the size of the message, and it is read in blocks rather than line by line
    (tests/test_smtp_data.py). Limits, dot-unstuffing and replies are aiosmtpd's (smtp.py, SMTP.smtp_DATA, 1.4)."""

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            draft = spool.Draft(self.event_handler.config.data_dir)
        except OSError:
            log.exception("could not open a spool file")
            await self._discard_data()
            self._set_post_data_state()
            await self.push("451 4.3.0 Local problem storing the message, try again later")
            return
        try:
            state = await self._receive(draft)
        except BaseException:
            draft.discard()
            raise
        if state is not None:
            draft.discard()
            self._set_post_data_state()
            await self.push(state)
            return
        self.envelope.spool_draft = draft
        self._reset_timeout()  # spooling (fsync) is the hub's time, not the client's
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _receive(self, draft: spool.Draft | None) -> str | None:
        """Read up to the lone dot; returns None, or the error reply (only after all data was read,
        RFC 5321 4.2.5)."""
        loop = asyncio.get_running_loop()
        self._data_deadline = loop.time() + self.data_timeout
        try:
            return await self._receive_lines(draft, loop)
        finally:
            self._data_deadline = None

    async def _receive_lines(self, draft: spool.Draft | None, loop: asyncio.AbstractEventLoop) -> str | None:
        """The lines of DATA in blocks, each up to the next ".\r\n" (the lone dot, or a line ending in a dot):
        a 10 KB protocol is two or three reads instead of one per line. When no ".\r\n" comes within the
        stream's limit, what it holds is taken as it is, and a line left unfinished waits for the next block."""
        size, limit, line_limit = 0, self.data_size_limit, self.line_length_limit
        carry = b""  # the start of a line that has not ended yet
        error = None
        reset_at, every = float("-inf"), min(1.0, self._timeout_duration / 4)  # not a new timer for each block
        while self.transport is not None:
            now = loop.time()
            if now - reset_at >= every:  # data is activity: the idle timeout starts again, within the DATA limit
                reset_at = now
                self._reset_timeout(max(0.001, min(self._timeout_duration, self._data_deadline - now)))
            try:
                block = await self._reader.readuntil(b".\r\n")
            except asyncio.CancelledError:
                log.info("connection lost during DATA")
                self._writer.close()
                raise
            except asyncio.LimitOverrunError as exc:  # no ".\r\n" within the stream's limit
                block = await self._reader.read(exc.consumed)
            data = carry + block
            # The lone dot: ".\r\n" at the start of a line (carry always begins one).
            ended = data.endswith(b".\r\n") and (len(data) == 3 or data[-5:-3] == b"\r\n")
            body = data[:-3] if ended else data
            cut = len(body) if ended else body.rfind(b"\r\n") + 2
            complete, carry = body[:cut], body[cut:]
            size += len(block) - (3 if ended else 0)
            if error is None and limit and size > limit:
                error = "552 Error: Too much mail data"
            if error is None and (len(carry) > line_limit or (
                    len(complete) > line_limit - 2 and max(map(len, complete.split(b"\r\n"))) > line_limit - 2)):
                error = "500 Line too long (see RFC5321 4.5.3.1.6)"
            if len(carry) > line_limit:
                carry = carry[-1:]  # a line too long is not kept: only a CR that a LF may follow
            if error is None and draft is not None and complete:
                unstuffed = complete.replace(b"\r\n.", b"\r\n")  # RFC 5321 4.5.2, complete begins a line
                draft.write(unstuffed[1:] if unstuffed[:1] == b"." else unstuffed)
            if ended:
                break
        return error

    async def _discard_data(self) -> None:
        await self._receive(None)
