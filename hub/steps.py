"""The steps of filing, as the quarantine records them and the review queue names them.

A message that makes any step raise is kept with the step, the error and the time (status "quarantined",
see `store.quarantine` and `hub.quarantine`).
"""

from __future__ import annotations

from hub.i18n import _, lazy

PARSE, STORE, CLASSIFY, ROUTE, EXTRACT, ATTACHMENTS, BOUNCE, FOLLOW_UP = (
    "parse", "store", "classify", "route", "extract", "attachments", "bounce", "follow-up")

_NAMES = {
    PARSE: lazy("Zerlegen der Nachricht"),
    STORE: lazy("Speichern"),
    CLASSIFY: lazy("Einordnen"),
    ROUTE: lazy("Zuordnen zu einer Gruppe"),
    EXTRACT: lazy("Auslesen von Terminen und Aufgaben"),
    ATTACHMENTS: lazy("Speichern der Anhänge"),
    BOUNCE: lazy("Auswerten der Unzustellbarkeitsmeldung"),
    FOLLOW_UP: lazy("Eingangsbestätigung und Weiterleitung"),
}


def stage_name(stage: str | None) -> str:
    name = _NAMES.get(stage or "")
    return _(name) if name is not None else (stage or _("unbekannt"))


def reason(stage: str) -> str:
    return _("Konnte nicht verarbeitet werden (Schritt: %(stage)s). Bitte erneut versuchen oder ablehnen.") % {
        "stage": stage_name(stage)}
