"""The config contract: where the file is found, overrides, and one-line errors naming file, key and fix."""

from pathlib import Path

import pytest

from hub import config as config_module
from hub.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "config" / "hub.toml").read_text(encoding="utf-8")


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
