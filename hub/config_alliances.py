"""Which alliances an installation serves: the one in `config/hub.toml` (as a single alliance's installation
has it), or one file each in `config/alliances/<slug>.toml` beside an installation file without `[alliance]`
(a provider's installation for many). An alliance's file holds the alliance's sections (with its own mailbox,
`[imap]`, if it has one), and may give its web admin an address of its own (`[web] base_url`); the machine's
sections (storage, inbound, SMTP, web, …) stay in hub.toml, shared by all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hub.errors import UsageError
from hub.i18n import _

# [imap] is the alliance's own mailbox (the mail in it has no envelope that could tell whose it is).
ALLIANCE_SECTIONS = frozenset({"alliance", "mail", "group", "dkim", "templates", "schedule", "retention", "imap"})
# Of the machine's sections, what each alliance may set for itself: the address of its web admin and links.
OWN_KEYS = {"web": frozenset({"base_url"})}
FOLDER = "alliances"
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class AllianceChoiceError(UsageError):
    """No alliance, an unknown one, or several without a choice: phrased for the person calling `hub`."""


def folder(config_path: Path) -> Path:
    return config_path.parent / FOLDER


def slugs(config_path: Path) -> list[str]:
    """The alliances that have a file of their own, by slug."""
    return sorted(path.stem for path in folder(config_path).glob("*.toml"))


def file_of(config_path: Path, slug: str) -> Path:
    if not SLUG.fullmatch(slug):
        raise AllianceChoiceError(_("%(slug)r ist kein Kürzel eines Bündnisses; erlaubt sind Kleinbuchstaben, "
                                    "Ziffern und Bindestriche, wie musterhausen") % {"slug": slug})
    return folder(config_path) / f"{slug}.toml"


def chosen(config_path: Path, installation: dict, wanted: str | None) -> Path | None:
    """The file of the alliance a call is about: `wanted` (`--alliance`, else $HUB_ALLIANCE), or the only one.
    None when hub.toml holds the alliance itself."""
    wanted = wanted or os.environ.get("HUB_ALLIANCE") or None
    known = slugs(config_path)
    if "alliance" in installation:
        if known:
            raise AllianceChoiceError(_(
                "%(path)s: [alliance] steht hier, und %(folder)s hat weitere Bündnisse; verschieben Sie die "
                "Abschnitte des Bündnisses aus hub.toml in eine eigene Datei %(folder)s/KÜRZEL.toml")
                % {"path": config_path, "folder": folder(config_path)})
        if wanted:
            raise AllianceChoiceError(_(
                "--alliance %(slug)s: diese Installation hat ein einziges Bündnis (in %(path)s); lassen Sie "
                "--alliance weg") % {"slug": wanted, "path": config_path})
        return None
    if wanted:
        path = file_of(config_path, wanted)
        if not path.is_file():
            raise AllianceChoiceError(_("--alliance %(slug)s: kein solches Bündnis; bekannt sind: %(known)s")
                                      % {"slug": wanted, "known": ", ".join(known) or "–"})
        return path
    if len(known) == 1:
        return file_of(config_path, known[0])
    if not known:
        raise AllianceChoiceError(_(
            "%(path)s: [alliance] fehlt, und in %(folder)s liegt kein Bündnis; ergänzen Sie [alliance] oder legen "
            "Sie eines an: hub alliances add KÜRZEL --name NAME --domain DOMAIN")
            % {"path": config_path, "folder": folder(config_path)})
    raise AllianceChoiceError(_("diese Installation hat mehrere Bündnisse (%(known)s); geben Sie an, welches: "
                                "hub --alliance KÜRZEL …") % {"known": ", ".join(known)})


def merged(config_path: Path, installation: dict, alliance_path: Path, alliance: dict) -> dict:
    """The installation's sections with one alliance's, each only where it belongs."""
    for key in installation.keys() & ALLIANCE_SECTIONS:
        raise AllianceChoiceError(_("%(path)s: [%(key)s] gehört in die Datei jedes Bündnisses (%(folder)s/"
                                    "KÜRZEL.toml), nicht in hub.toml") % {"path": config_path, "key": key,
                                                                          "folder": folder(config_path)})
    for key in alliance.keys() - ALLIANCE_SECTIONS - OWN_KEYS.keys():
        raise AllianceChoiceError(_("%(path)s: [%(key)s] gilt für die ganze Installation und gehört in "
                                    "%(config)s") % {"path": alliance_path, "key": key, "config": config_path})
    combined = {**installation, **{key: value for key, value in alliance.items() if key in ALLIANCE_SECTIONS}}
    for section, allowed in OWN_KEYS.items():
        own = alliance.get(section, {})
        for key in (own.keys() if isinstance(own, dict) else {section}) - allowed:
            raise AllianceChoiceError(_("%(path)s: %(section)s.%(key)s gilt für die ganze Installation und gehört "
                                        "in %(config)s") % {"path": alliance_path, "section": section, "key": key,
                                                            "config": config_path})
        if own:
            combined[section] = {**installation.get(section, {}), **own}
    return combined
