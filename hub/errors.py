"""Errors the hub shows to people: one line each, already saying what to do.

Exit statuses, the same in every command:
  0  done;
  1  the work could not be done (HubError): a server did not answer, a mail could not be made, a state
     forbids it (an issue already sent, a job not paused);
  2  the call is wrong (UsageError), whatever part of it: an unknown command or option, a bad value, a
     config file with a mistake, and anything the call names that does not exist (NotFound: a group,
     an id, an address, a job) — the same mistake gives the same status whichever command it is made in;
  130 interrupted (Ctrl-C); 141 the reader of the output went away (`hub outbox list | head`).
"""


class HubError(Exception):
    """The work could not be done (exit status 1)."""

    exit_status = 1


class UsageError(HubError):
    """The call or the configuration is wrong (exit status 2)."""

    exit_status = 2


class NotFound(UsageError):
    """The call names something that does not exist: a group, an id, an address, a job (exit status 2)."""
