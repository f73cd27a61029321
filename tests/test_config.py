"""The config contract: where the file is found, overrides, and one-line errors naming file, key and fix."""

import subprocess
from pathlib import Path

import pytest
from conftest import run_hub

from hub import config as config_module
from hub.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "config" / "hub.toml").read_text(encoding="utf-8")


SMTP = '\n[smtp]\nhost = "smtp.example.org"\n'
IMAP = '\n[imap]\nhost = "imap.example.org"\nuser = "protokolle@buendnis-musterhausen.example"\n'


def add(section: str, line: str):
    """An edit that appends `[section]` (with what it requires) and one key to the example."""
    head = {"smtp": SMTP, "imap": IMAP}.get(section, f"\n[{section}]\n")
    return lambda t: t + head + line + "\n"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_has_real_groups():
    config = config_module.load(ROOT / "config" / "hub.toml")
    assert config.alliance.name == "Bündnis für Familie Musterhausen"
    slugs = [g.slug for g in config.group]
    assert 4 <= len(slugs) <= 6
    assert {"aktionstage", "gesundheit", "unternehmen", "koordinierungskreis"} <= set(slugs)
    assert config.mail.protocol_address == "protokolle@buendnis-musterhausen.example"


def test_explicit_path_beats_environment_beats_default(tmp_path, monkeypatch):
    explicit = write(tmp_path, EXAMPLE.replace("Musterhausen\"", "Explizit\"", 1))
    other = tmp_path / "other.toml"
    other.write_text(EXAMPLE.replace("Musterhausen\"", "Umgebung\"", 1), encoding="utf-8")
    monkeypatch.setenv("HUB_CONFIG", str(other))
    assert config_module.load(explicit).alliance.name.endswith("Explizit")
    assert config_module.load().alliance.name.endswith("Umgebung")
    monkeypatch.delenv("HUB_CONFIG")
    monkeypatch.chdir(ROOT)
    assert config_module.load().alliance.name.endswith("Musterhausen")


def test_environment_overrides_storage(tmp_path, monkeypatch):
    config = config_module.load(write(tmp_path, EXAMPLE))
    assert config.database_url == f"sqlite:///{tmp_path.parent}/var/hub.db" or config.database_url.endswith(
        "/var/hub.db")
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+psycopg://hub@127.0.0.1/hub")
    monkeypatch.setenv("HUB_DATA_DIR", "/srv/hub-data")
    assert config.database_url == "postgresql+psycopg://hub@127.0.0.1/hub"
    assert config.data_dir == Path("/srv/hub-data")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("[storage]", "colour_scheme = 1\n[storage]"), "mail.colour_scheme: unbekannter Schlüssel"),
        (lambda t: t.replace('"geschaeftsstelle@buendnis-musterhausen.example"', '"geschaeftsstelle"'),
         "mail.office_address:"),
        (lambda t: t + '\n[[group]]\nslug = "gesundheit"\nname = "Doppelt"\n', "'gesundheit' wird schon"),
        (lambda t: t.replace('aliases = ["pg-erziehungslotsen", "lotsen"]', 'aliases = ["ag-gesundheit"]'),
         "'ag-gesundheit' wird schon"),
        (lambda t: t.replace('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"'), "alliance.timezone"),
        (lambda t: t.replace('slug = "plenum"', 'slug = "Plenum!"'), "group[5].slug"),
        (lambda t: t.replace('[alliance]', '[alliance\n'), "TOML-Syntaxfehler"),
        # Ranges: ports 1–65535; sizes, counts, intervals, connections, rates 1 or more.
        (lambda t: t.replace("port = 8080", "port = -5"), "web.port: -5 ist keine Portnummer"),
        (lambda t: t.replace("port = 8080", "port = 0"), "web.port: 0 ist keine Portnummer"),
        (lambda t: t.replace("port = 8025", "port = -5"), "inbound.port: -5 ist keine Portnummer"),
        (lambda t: t.replace("max_message_size = 26214400", "max_message_size = -1"), "inbound.max_message_size:"),
        (lambda t: t.replace("max_recipients = 50", "max_recipients = 0"), "inbound.max_recipients:"),
        (lambda t: t.replace("port = 8080", "port = 65536"), "web.port: 65536 ist keine Portnummer"),
        (add("smtp", "port = 0"), "smtp.port:"),
        (add("smtp", "connections = 0"), "smtp.connections: 0 ist zu klein; nehmen Sie 1 oder mehr"),
        (add("smtp", "connections = -3"), "smtp.connections:"),
        (add("smtp", "messages_per_connection = 0"), "smtp.messages_per_connection:"),
        (add("smtp", "rate_per_minute = 0"), "smtp.rate_per_minute:"),
        (add("smtp", "timeout = 0"), "smtp.timeout:"),
        (add("imap", "port = 100000"), "imap.port:"),
        (add("imap", "poll_interval = 0"), "imap.poll_interval: 0 ist zu klein; nehmen Sie 1 oder mehr"),
        (add("outbox", "lease_seconds = 0"), "outbox.lease_seconds:"),
        (add("outbox", "give_up_hours = -1"), "outbox.give_up_hours:"),
        (add("outbox", "retry_base_seconds = 0"), "outbox.retry_base_seconds:"),
        (add("outbox", "retry_max_seconds = 0"), "outbox.retry_max_seconds:"),
        (add("outbox", "poll_seconds = 0"), "outbox.poll_seconds:"),
        (add("outbox", "poll_seconds = -1.5"), "outbox.poll_seconds:"),
        (add("outbox", "poll_seconds = nan"), "outbox.poll_seconds:"),
        (add("outbox", "poll_seconds = inf"), "outbox.poll_seconds:"),
        (lambda t: t.replace("threshold = 5.0", "threshold = 0"), "bounces.threshold:"),
        (lambda t: t.replace("decay_days = 7", "decay_days = 0"), "bounces.decay_days:"),
        (lambda t: t.replace("# permanent_score = 1.0", "permanent_score = 0"), "bounces.permanent_score:"),
        (lambda t: t.replace("# transient_score = 0.5", "transient_score = -0.5"), "bounces.transient_score:"),
        (lambda t: t.replace("# success_after_hours = 24", "success_after_hours = 0"),
         "bounces.success_after_hours:"),
        (add("schedule", "meeting_minutes = 0"), "schedule.meeting_minutes:"),
        (add("schedule", "grace_hours = 0"), "schedule.grace_hours:"),
        (add("schedule", "resync_seconds = 0"), "schedule.resync_seconds:"),
        (add("schedule", "invitation_days = -1"), "schedule.invitation_days: muss 0 oder größer sein"),
        # base_url: http(s) to a host, nothing else.
        (lambda t: t.replace('base_url = "http://127.0.0.1:8080"', 'base_url = "javascript:alert(1)"'),
         "web.base_url: 'javascript:alert(1)' ist keine Web-Adresse"),
        (lambda t: t.replace('base_url = "http://127.0.0.1:8080"', 'base_url = "https://"'), "web.base_url:"),
        (lambda t: t.replace('base_url = "http://127.0.0.1:8080"', 'base_url = "ftp://hub.example.org"'),
         "web.base_url:"),
        (lambda t: t.replace('base_url = "http://127.0.0.1:8080"', 'base_url = "hub.example.org"'), "web.base_url:"),
        (lambda t: t.replace('base_url = "http://127.0.0.1:8080"', 'base_url = "https://hub.example.org/a b"'),
         "web.base_url:"),
        (lambda t: t.replace('base_url = "http://127.0.0.1:8080"', 'base_url = "https://hub.example.org/?x=1"'),
         "web.base_url:"),
        (lambda t: t.replace('base_url = "http://127.0.0.1:8080"', 'base_url = "https://hub.example.org:99999"'),
         "web.base_url:"),
        (add("dkim", 'selector = "hub 2026"\nkey_file = "dkim.key"'), "dkim.selector:"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, edit, expected):
    text = edit(EXAMPLE)
    if text == EXAMPLE:
        pytest.fail("the edit did not change the example; the test is wrong")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config_module.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_edge_values_load(tmp_path):
    """The ends of each range, and 0 where it means something, are accepted."""
    text = (EXAMPLE.replace("port = 8080", "port = 65535")
            .replace('base_url = "http://127.0.0.1:8080"', 'base_url = "https://hub.example.org:8443/buendnis/"')
            .replace("# transient_score = 0.5", "transient_score = 0")
            + SMTP + "port = 1\nconnections = 1\nmessages_per_connection = 1\nrate_per_minute = 1\ntimeout = 1\n"
            + "\n[outbox]\npoll_seconds = 0.1\nlease_seconds = 1\n"
            + "\n[schedule]\ninvitation_days = 0\nprotocol_due_repeat_days = 0\nmeeting_minutes = 1\n"
            + "\n[dkim]\nselector = \"hub2026.mail\"\nkey_file = \"nowhere.key\"\n")
    config = config_module.load(write(tmp_path, text))
    assert (config.web.port, config.smtp.port, config.smtp.connections) == (65535, 1, 1)
    assert config.bounces.transient_score == 0
    assert config.schedule.protocol_due_repeat_days == 0


def _with(hub_dir, extra: str) -> None:
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")


def _dkim_key(hub_dir, kind: str) -> str:
    """The key file to configure: missing, a folder (unreadable), garbage, an Ed25519 key, or a good RSA key."""
    path = hub_dir / "config" / "dkim.key"
    if kind == "folder":
        path.mkdir()
    elif kind == "garbage":
        path.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", encoding="utf-8")
    elif kind == "ed25519":
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(path)], check=True,
                       capture_output=True)
    elif kind == "rsa":
        subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True)
    return f'\n[dkim]\nselector = "hub2026"\nkey_file = "{path}"\n'


def _refused_in_one_line(result, key: str, fix: str) -> None:
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, stderr
    assert "Traceback" not in stderr and "unerwarteter Fehler" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "hub.toml: " + key in lines[0] and fix in lines[0]


BAD_KEYS = [("missing", "nicht lesbar"), ("folder", "nicht lesbar"), ("garbage", "kein privater RSA-Schlüssel"),
            ("ed25519", "kein privater RSA-Schlüssel")]


@pytest.mark.parametrize(("kind", "fix"), BAD_KEYS)
def test_serve_with_a_bad_dkim_key_exits_2_before_listening(hub_dir, kind, fix):
    _with(hub_dir, _dkim_key(hub_dir, kind))
    # Without the check `hub serve` would start and run: the timeout fails the test instead of hanging.
    result = run_hub("serve", "--no-imap", cwd=hub_dir, timeout=30)
    _refused_in_one_line(result, "dkim.key_file: ", fix)
    assert "started" not in result.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize(("kind", "fix"), BAD_KEYS)
def test_outbox_flush_with_a_bad_dkim_key_exits_2(hub, hub_dir, kind, fix):
    _with(hub_dir, _dkim_key(hub_dir, kind))
    _refused_in_one_line(hub("outbox", "flush"), "dkim.key_file: ", fix)


def test_outbox_flush_with_a_good_dkim_key_runs(hub, hub_dir):
    _with(hub_dir, _dkim_key(hub_dir, "rsa"))
    result = hub("outbox", "flush")
    assert result.returncode == 0, result.stderr


def test_outbox_flush_with_no_connections_is_refused_at_load(hub, hub_dir):
    _with(hub_dir, SMTP + "connections = 0\n")
    _refused_in_one_line(hub("outbox", "flush"), "smtp.connections: ", "nehmen Sie 1 oder mehr")


def test_missing_config_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="--config PFAD"):
        config_module.load(tmp_path / "nope.toml")


def test_cli_config_error_exits_2_without_traceback(hub, hub_dir):
    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("[storage]", "typo = 1\n[storage]"),
                    encoding="utf-8")
    result = hub("groups", "list")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "mail.typo: unbekannter Schlüssel" in result.stderr
