"""DATA straight to the spool: each line is written to a spool draft as it arrives, so the listener's memory
stays flat in the size of a message."""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import MISSING

from hub.inbound import spool

log = logging.getLogger("hub.inbound.smtp")

CHUNK = 1 << 16  # DATA lines are passed to the spool draft in pieces of this size


class SpoolingData:
    """aiosmtpd's DATA command with one change: each line is written to a spool draft as it arrives instead
    of being kept, so memory stays flat in the size of the message. Limits, dot-unstuffing and replies are
    aiosmtpd's (smtp.py, SMTP.smtp_DATA, 1.4)."""

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
        size, limit = 0, self.data_size_limit
        fragments: list[bytes] = []
        lines: list[bytes] = []  # handed to the draft in pieces of CHUNK bytes
        pending = 0
        error = None
        reset_at, every = float("-inf"), min(1.0, self._timeout_duration / 4)  # not a new timer for each line
        while self.transport is not None:
            now = loop.time()
            if now - reset_at >= every:  # a line is activity: the idle timeout starts again, within the DATA limit
                reset_at = now
                self._reset_timeout(max(0.001, min(self._timeout_duration, self._data_deadline - now)))
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.CancelledError:
                log.info("connection lost during DATA")
                self._writer.close()
                raise
            except asyncio.LimitOverrunError as exc:  # a line beyond the stream limit: drain it
                error = error or "500 Line too long (see RFC5321 4.5.3.1.6)"
                line = await self._reader.read(exc.consumed)
            if not fragments and line == b".\r\n":
                break
            size += len(line)
            if error is None and limit and size > limit:
                error = "552 Error: Too much mail data"
            if fragments or not line.endswith(b"\r\n"):
                fragments.append(line)
                if not line.endswith(b"\r\n"):
                    continue
                line = b"".join(fragments)
                fragments.clear()
            if error is None and len(line) > self.line_length_limit:
                error = "500 Line too long (see RFC5321 4.5.3.1.6)"
            if error is None and draft is not None:
                lines.append(line[1:] if line[:1] == b"." else line)  # RFC 5321 4.5.2
                pending += len(line)
                if pending > CHUNK:
                    draft.write(b"".join(lines))
                    lines.clear()
                    pending = 0
        if error is None and draft is not None and lines:
            draft.write(b"".join(lines))
        return error

    async def _discard_data(self) -> None:
        await self._receive(None)
