"""Errors the hub shows to people: one line each, already saying what to do."""


class HubError(Exception):
    """The work could not be done (exit status 1)."""

    exit_status = 1


class UsageError(HubError):
    """The call or the configuration is wrong (exit status 2)."""

    exit_status = 2
