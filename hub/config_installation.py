"""The installation's sections of `config/hub.toml`: where the data lives, how mail comes in (listener, IMAP,
the sender check, the extraction sandbox) and goes out (smarthost, outbox, bounce scoring), and the web server.
They are the machine's, not an alliance's: an alliance's own sections (its name and addresses, groups, templates,
schedule and retention policy, DKIM key) are in hub/config_sections.py, whose checked value types these use.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from hub.config_sections import Count, NotNegative, Port, Positive, Section
from hub.i18n import _
from hub.locations import DEFAULT_DATA_DIR, DEFAULT_DATABASE, DEFAULT_SMTP_PORT


class Storage(Section):
    database: str = DEFAULT_DATABASE
    data_dir: str = DEFAULT_DATA_DIR


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(_("%(value)r ist kein Netz; schreiben Sie es wie \"127.0.0.0/8\" oder \"192.0.2.7\"")
                         % {"value": value}) from None


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(_("%(value)r ist keine IP-Adresse; schreiben Sie sie wie \"127.0.0.1\"")
                         % {"value": value}) from None


Network = Annotated[str, AfterValidator(_network)]
IpAddress = Annotated[str, AfterValidator(_ip)]


class Inbound(Section):
    host: str = "127.0.0.1"
    port: Port = 8025
    protocol: Literal["smtp", "lmtp"] = "smtp"
    max_message_size: Count = 25 * 1024 * 1024
    max_recipients: Count = 50
    timeout: Count = 300  # seconds a client may stay silent (per command, per line in DATA)
    data_timeout: Count = 600  # seconds for a whole message after DATA
    max_sessions: Count = 100  # concurrent sessions; more get 421 at once
    max_sessions_per_client: Count = 20  # concurrent sessions from one IP address
    enabled: bool = True
    # The filing process and, during a burst, its helpers (hub/filing_helpers.py): a burst is filed on two cores.
    filing_processes: Annotated[int, Field(ge=1, le=16)] = 2
    # Sender authentication (hub/inbound/sender_check.py): "dmarc" checks DKIM, SPF and DMARC itself (the hub
    # receives directly), "trusted-header" believes only the Authentication-Results of the MTA in front
    # (trusted_authserv_id), "off" checks nothing.
    sender_check: Literal["dmarc", "trusted-header", "off"] = "dmarc"
    trusted_authserv_id: str | None = None  # the authserv-id of the MTA's Authentication-Results
    trusted_networks: list[Network] = []  # mail from here counts as the alliance's own (and `hub ingest` files
    #                                       count as from loopback)
    dns_servers: list[IpAddress] | None = None  # None: the system's resolver
    dns_port: Port = 53
    dns_timeout: Annotated[float, Field(gt=0, le=30)] = 3.0  # seconds for all DNS lookups of one message

    @field_validator("trusted_authserv_id")
    @classmethod
    def _authserv_id(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() or c == ";" for c in value.strip())):
            raise ValueError(_("ist keine authserv-id; schreiben Sie den Namen, den Ihr Mailserver in "
                               "Authentication-Results einträgt, wie mx.buendnis-musterhausen.example"))
        return value.strip().lower() if value is not None else None

    @model_validator(mode="after")
    def _trusted_header_needs_id(self) -> Inbound:
        if self.sender_check == "trusted-header" and not self.trusted_authserv_id:
            raise ValueError(_("trusted_authserv_id fehlt für sender_check = \"trusted-header\"; tragen "
                               "Sie den Namen ein, den Ihr Mailserver in Authentication-Results schreibt"))
        return self


class Extraction(Section):
    """Limits of reading the text of an attachment (hub/inbound/sandbox.py): each document is read in a worker
    process that may use this much memory and time; a document over a limit is filed without its text."""

    memory_mb: Annotated[int, Field(ge=128, le=8192)] = 256  # for documents, beyond the worker's own ~75 MB
    seconds: Annotated[float, Field(ge=1, le=600)] = 10  # per document, wall time and CPU time
    max_unpacked_mb: Annotated[int, Field(ge=1, le=1024)] = 50  # a DOCX/ODT unpacked, a PDF's page contents
    max_ratio: Annotated[int, Field(ge=10, le=10_000)] = 100  # unpacked : packed, per member over 1 MB
    max_pdf_pages: Annotated[int, Field(ge=1, le=100_000)] = 500
    documents_per_worker: Annotated[int, Field(ge=1, le=100_000)] = 200  # then a fresh worker


class Imap(Section):
    host: str
    port: Port = 993
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    user: str
    password_env: str = "HUB_IMAP_PASSWORD"
    folder: str = "INBOX"
    processed_folder: str | None = "Verarbeitet"
    poll_interval: Count = 120


class Smtp(Section):
    host: str
    port: Port = DEFAULT_SMTP_PORT
    tls: Literal["implicit", "starttls", "none"] = "starttls"
    user: str | None = None
    password_env: str = "HUB_SMTP_PASSWORD"
    connections: Count = 4
    messages_per_connection: Count = 100
    rate_per_minute: Count = 600
    timeout: Count = 60
    ca_file: str | None = None  # trust this CA (a smarthost with its own certificate)
    # The smarthost announces SMTPUTF8: addresses with a local part outside ASCII may be imported.
    smtputf8: bool = False


class Outbox(Section):
    lease_seconds: Count = 300
    give_up_hours: Count = 72
    retry_base_seconds: Count = 60
    retry_max_seconds: Count = 3600
    poll_seconds: Positive = 2.0  # how often `hub serve` looks for due mail


class Bounces(Section):
    threshold: Positive = 5.0
    permanent_score: Positive = 1.0
    transient_score: NotNegative = 0.5  # 0: delayed and temporary bounces do not count
    decay_days: Count = 7
    success_after_hours: Count = 24  # a mail sent this long ago that has not bounced resets the score


class Web(Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    base_url: str = "http://127.0.0.1:8080"
    enabled: bool = True
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IP addresses or networks).
    # Empty: the client address is the socket's peer, whatever a header claims.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, values: list[str]) -> list[str]:
        checked = []
        for value in values:
            text = value.strip()
            try:
                network = ipaddress.ip_network(text, strict=True) if "/" in text else ipaddress.ip_address(text)
            except ValueError:
                raise ValueError(_("%(value)r ist keine IP-Adresse und kein Netz; schreiben Sie etwa "
                                   "\"127.0.0.1\" oder \"10.0.0.0/8\" (ein Netz ohne gesetzte Host-Bits)")
                                 % {"value": value}) from None
            checked.append(str(network))
        return checked

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        """The start of every link in mails and pages: http(s) to a host, nothing a link could not carry."""
        value = value.strip()
        try:
            parts = urlsplit(value)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            parts, port_ok = None, False
        if (parts is None or not port_ok or parts.scheme not in ("http", "https") or not parts.hostname
                or "@" in parts.netloc or parts.query or parts.fragment or "?" in value or "#" in value
                or any(c.isspace() or not c.isprintable() or c in "<>\"'\\" for c in value)):
            raise ValueError(_("%(value)r ist keine Web-Adresse; schreiben Sie sie wie https://hub.example.org "
                               "(http:// oder https:// und ein Rechnername)") % {"value": value})
        return value
