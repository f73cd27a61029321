"""Tasks written as sentences: "Herr Becker kümmert sich um die Stände", "Thomas Becker erstellt den Fragebogen bis
zum 18. Dezember", "Frau Krüger wird die Einladung verschicken".

Outside a task section a sentence counts only with a verb that gives work ("kümmert sich um", "erstellt",
"klärt", …) or with a due date: "Frau Öztürk berichtet vom Elternabend" is a report, not a task. The task is
written as the lists write it, object first and the verb in the infinitive ("den Fragebogen erstellen").
"""

from __future__ import annotations

import re

OWNER = (r"(?:(?:Frau|Herr|Hr\.|Fr\.|Dr\.|Prof\.)\s+)*[A-ZÄÖÜ][\w.'-]*(?:\s+[A-ZÄÖÜ][\w'-]*)?"
         r"(?:\s+(?:und|&)\s+(?:(?:Frau|Herr|Dr\.)\s+)*[A-ZÄÖÜ][\w.'-]*(?:\s+[A-ZÄÖÜ][\w'-]*)?)?")
_TAKES = re.compile(rf"^(?P<who>{OWNER})\s+(?:übernimmt|übernehmen|kümmert\s+sich\s+(?:um|darum,?)"
                    rf"|kümmern\s+sich\s+(?:um|darum,?)|sorgt\s+für|sorgen\s+für|will\s+take|takes)\s+(?P<what>.+)$")
_WILL = re.compile(rf"^(?P<who>{OWNER})\s+(?:wird|werden|will|möchte|soll|sollen)\s+(?P<what>.+\s\w+en)$")
_VERB = re.compile(rf"^(?P<who>{OWNER})\s+(?P<verb>[a-zäöüß]+(?:t|en))\s+(?P<what>.+)$")

# Verbs that hand out work, as a sentence after a name writes them (third person).
WORK_VERBS = frozenset((
    "erstellt", "klärt", "organisiert", "schreibt", "besorgt", "kontaktiert", "bereitet", "lädt", "schickt",
    "verschickt", "sendet", "bucht", "reserviert", "druckt", "gestaltet", "prüft", "recherchiert", "meldet",
    "fragt", "entwirft", "plant", "koordiniert", "übersetzt", "verteilt", "sammelt", "ruft", "beantragt",
    "informiert", "spricht", "stimmt", "überarbeitet", "aktualisiert", "holt", "bringt", "erstellen", "klären",
))
# Verbs of a report: a sentence with them says what happened, even with a date in it.
_REPORT_VERBS = frozenset(("berichtet", "stellt", "erläutert", "erklärt", "begrüßt", "dankt", "betont",
                           "weist", "schlägt", "fasst", "eröffnet", "leitet", "moderiert", "war", "ist", "hat",
                           "hatte", "sagt", "meint", "findet"))
_IRREGULAR = {"lädt": "laden", "entwirft": "entwerfen", "spricht": "sprechen", "gibt": "geben", "nimmt": "nehmen",
              "hält": "halten", "trifft": "treffen", "liest": "lesen", "sieht": "sehen", "fährt": "fahren"}
_PARTICLES = ("an", "auf", "aus", "ein", "mit", "nach", "vor", "zu", "ab", "bei", "zusammen", "weiter", "durch",
              "fest")
_NOT_OWNER = re.compile(r"^(?:Die|Der|Das|Wir|Es|Ein|Eine|Im|In|Am|Zum|Zur|Bis|Alle|Danach|Dann|Außerdem"
                        r"|Nächstes|Nächste|Protokoll|Bitte|Thema|Top|Tagesordnung)\b")


def sentence_task(sentence: str, in_section: bool, dated: bool) -> tuple[str, str] | None:
    """(what, who) of a sentence that gives someone work; `dated`: the sentence carried a due phrase."""
    text = sentence.strip().rstrip(".!")
    if _NOT_OWNER.match(text):
        return None
    if (m := _TAKES.match(text)) is not None:
        return m.group("what").strip(" ."), m.group("who")
    if (m := _WILL.match(text)) is not None:
        return m.group("what").strip(" ."), m.group("who")
    m = _VERB.match(text)
    if m is None:
        return None
    verb = m.group("verb")
    if verb in _REPORT_VERBS or not (verb in WORK_VERBS or (dated and len(m.group("who").split()) >= 2)
                                     or in_section):
        return None
    return _infinitive_phrase(verb, m.group("what").strip(" .,")), m.group("who")


def _infinitive_phrase(verb: str, rest: str) -> str:
    """"erstellt" + "den Fragebogen" → "den Fragebogen erstellen"; "fragt" + "beim Amt an" → "beim Amt anfragen"."""
    words = rest.split()
    particle = ""
    if len(words) > 1 and words[-1] in _PARTICLES:
        particle, words = words[-1], words[:-1]
    return " ".join([*words, particle + infinitive(verb)])


def infinitive(verb: str) -> str:
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith("en"):
        return verb
    # "meldet", "arbeitet": the e only joins stem and ending
    stem = verb[:-2] if verb.endswith("et") and verb[-3] in "dt" else verb[:-1]
    if stem.endswith(("el", "er")) and not stem.endswith(("ier",)):
        return stem + "n"
    return stem + "en"
