"""An installation of many alliances (issue 17): hub.toml keeps the machine's sections, each alliance has its own
file config/alliances/<slug>.toml; `hub alliances list/add/remove`; every command takes `--alliance SLUG` (or
$HUB_ALLIANCE), needed only when there are several. A single alliance's hub.toml works as before."""

from __future__ import annotations

import json
import re

import pytest

from hub import config as config_module
from hub.config_alliances import ALLIANCE_SECTIONS

GROUPS = '\n[[group]]\nslug = "gesundheit"\nname = "AG Gesundheit"\n'


def _installation_only(text: str) -> str:
    """The example hub.toml without the alliance's sections."""
    chunks = re.split(r"(?m)^(?=\[)", text)
    return "".join(chunk for chunk in chunks
                   if re.match(r"\[\[?([a-z_]+)", chunk) is None
                   or re.match(r"\[\[?([a-z_]+)", chunk).group(1) not in ALLIANCE_SECTIONS)


@pytest.fixture
def provider(hub_dir):
    """The test installation turned into a provider's: hub.toml without [alliance], no alliance yet."""
    path = hub_dir / "config" / "hub.toml"
    path.write_text(_installation_only(path.read_text(encoding="utf-8")), encoding="utf-8")
    return hub_dir


def test_alliances_are_added_listed_chosen_and_set_up_one_by_one(hub, provider):
    none = hub("status")
    assert none.returncode == 2 and "hub alliances add" in none.stderr, none.stderr
    for slug, domain in (("eins", "buendnis-eins.example"), ("zwei", "buendnis-zwei.example")):
        added = hub("alliances", "add", slug, "--name", f"Bündnis {slug.title()}", "--domain", domain)
        assert added.returncode == 0, added.stderr
        assert f"hub --alliance {slug} init" in added.stdout
    listed = json.loads(hub("alliances", "list", "--json").stdout)
    assert [(a["slug"], a["domain"], a["set_up"]) for a in listed] == [
        ("eins", "buendnis-eins.example", False), ("zwei", "buendnis-zwei.example", False)]

    unchosen = hub("status")
    assert unchosen.returncode == 2 and "eins, zwei" in unchosen.stderr and "--alliance" in unchosen.stderr
    unknown = hub("--alliance", "drei", "status")
    assert unknown.returncode == 2 and "drei" in unknown.stderr and "eins, zwei" in unknown.stderr

    assert hub("--alliance", "eins", "init").returncode == 0
    assert hub("init", env={"HUB_ALLIANCE": "zwei"}).returncode == 0
    assert all(a["set_up"] for a in json.loads(hub("alliances", "list", "--json").stdout))
    status = json.loads(hub("--alliance", "zwei", "status", "--json").stdout)
    assert status["domain"] == "buendnis-zwei.example"


def test_a_section_in_the_wrong_file_is_named_with_its_place(hub, provider):
    assert hub("alliances", "add", "eins", "--name", "Eins", "--domain", "eins.example").returncode == 0
    own = provider / "config" / "alliances" / "eins.toml"
    own.write_text(own.read_text(encoding="utf-8") + '\n[storage]\ndatabase = "sqlite:///x.db"\n', encoding="utf-8")
    wrong = hub("status")
    assert wrong.returncode == 2 and "eins.toml" in wrong.stderr and "[storage]" in wrong.stderr, wrong.stderr
    own.write_text(own.read_text(encoding="utf-8").split("\n[storage]")[0] + '\n[mail]\nfoo = "x"\n')
    assert hub("status").returncode == 2


def test_a_mailbox_belongs_to_its_alliance_not_to_the_installation(hub, provider):
    assert hub("alliances", "add", "eins", "--name", "Eins", "--domain", "eins.example").returncode == 0
    own = provider / "config" / "alliances" / "eins.toml"
    mailbox = '\n[imap]\nhost = "imap.eins.example"\nuser = "protokolle@eins.example"\n'
    own.write_text(own.read_text(encoding="utf-8") + mailbox, encoding="utf-8")
    assert config_module.load(provider / "config" / "hub.toml", "eins").imap.host == "imap.eins.example"
    installation = provider / "config" / "hub.toml"
    installation.write_text(installation.read_text(encoding="utf-8") + mailbox, encoding="utf-8")
    wrong = hub("--alliance", "eins", "status")
    assert wrong.returncode == 2 and "[imap]" in wrong.stderr and "hub.toml" in wrong.stderr, wrong.stderr


def test_an_error_in_an_alliance_file_names_that_file(hub, provider):
    assert hub("alliances", "add", "eins", "--name", "Eins", "--domain", "eins.example").returncode == 0
    own = provider / "config" / "alliances" / "eins.toml"
    own.write_text(own.read_text(encoding="utf-8").replace('timezone = "Europe/Berlin"', 'timezone = "Mars/Olymp"'),
                   encoding="utf-8")
    wrong = hub("--alliance", "eins", "init")
    assert wrong.returncode == 2 and "eins.toml: alliance.timezone" in wrong.stderr, wrong.stderr


def test_adding_is_refused_for_a_taken_domain_or_slug_and_leaves_no_file(hub, provider):
    assert hub("alliances", "add", "eins", "--name", "Eins", "--domain", "eins.example").returncode == 0
    twice = hub("alliances", "add", "zwei", "--name", "Zwei", "--domain", "EINS.example")
    assert twice.returncode == 2 and "eins.example" in twice.stderr
    assert not (provider / "config" / "alliances" / "zwei.toml").exists()
    again = hub("alliances", "add", "eins", "--name", "Eins", "--domain", "anders.example")
    assert again.returncode == 2 and "eins.toml" in again.stderr
    odd = hub("alliances", "add", "x/y", "--name", "X", "--domain", "x.example")
    assert odd.returncode == 2 and "Kürzel" in odd.stderr
    assert sorted(p.name for p in (provider / "config" / "alliances").iterdir()) == ["eins.toml"]


def test_only_an_alliance_without_data_is_removed_and_the_others_stay(hub, provider):
    for slug in ("eins", "zwei"):
        assert hub("alliances", "add", slug, "--name", slug.title(), "--domain", f"{slug}.example").returncode == 0
        own = provider / "config" / "alliances" / f"{slug}.toml"
        own.write_text(own.read_text(encoding="utf-8") + GROUPS, encoding="utf-8")
        assert hub("--alliance", slug, "init").returncode == 0
    added = hub("--alliance", "zwei", "partners", "add", "a@example.org", "--name", "A", "--group", "gesundheit",
                "--no-welcome")
    assert added.returncode == 0, added.stderr
    kept = hub("alliances", "remove", "zwei")
    assert kept.returncode == 2 and "partner" in kept.stderr, kept.stderr
    gone = hub("alliances", "remove", "eins")
    assert gone.returncode == 0, gone.stderr
    assert not (provider / "config" / "alliances" / "eins.toml").exists()
    assert [a["slug"] for a in json.loads(hub("alliances", "list", "--json").stdout)] == ["zwei"]
    groups = hub("groups", "list", "--json")  # the only alliance left needs no --alliance
    assert groups.returncode == 0 and [g["slug"] for g in json.loads(groups.stdout)] == ["gesundheit"]
    assert "a@example.org" in hub("partners", "list", "--json").stdout


def test_a_single_alliance_installation_needs_no_and_takes_no_choice(hub, hub_dir):
    assert hub("status", "--json").returncode == 0
    told = hub("--alliance", "musterhausen", "status")
    assert told.returncode == 2 and "--alliance" in told.stderr
    refused = hub("alliances", "add", "zwei", "--name", "Zwei", "--domain", "zwei.example")
    assert refused.returncode == 2 and "[alliance]" in refused.stderr
