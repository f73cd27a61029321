"""Route a protocol to its working group, or hold it for review (DESIGN.md, "Routing rule").

First that applies wins:
  1. a recipient (envelope or To/Cc) that is a group alias at the alliance domain, or the protocol address
     with a `+tag` naming a group (`protokolle+gesundheit@…`, `protokolle+ag-gesundheit@…`);
  2. a group named in the subject;
  3. a group named in a forwarded message (its subject or opening lines), in the opening lines of the body,
     or in an attachment's file name or opening lines;
  4. the sender's only group.

Where the rule is silent we decide so that a wrong filing is unlikely and a held message says why:
  * An unknown sender is held whatever the mail claims, and gets no group: a coordinator assigns it.
  * A sender who is not a coordinator and names a group they don't belong to is held, with that group set,
    so that `hub protocols release` files it there once a coordinator agrees.
  * Within one step, names are ranked: "Protokoll der AG Gesundheit" (named as the protocol's author)
    beats "AG Gesundheit" (the full name), which beats "Gesundheit" (a slug, alias or short name), which beats
    one word of a longer name ("Familienfreundliche" for "AG Familienfreundliches Unternehmen").
    Several groups at the best rank are narrowed by the later steps and then by the sender's memberships;
    only if that leaves not exactly one group is the message held as ambiguous.
  * A `+tag` on the protocol address that names no group is ignored; the later steps decide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.addresses import address_key
from hub.i18n import _
from hub.inbound import group_names
from hub.inbound.message import Directory, ParsedMessage, Routing
from hub.models import MessageStatus

HELD, FILED = MessageStatus.held, MessageStatus.filed

OPENING_LINES = 10  # "the opening lines" of a body, a forwarded message or a document …
OPENING_CHARS = 2000  # … and no more than this, for text without line breaks

def _opening(text: str) -> str:
    lines = [line for line in text[:OPENING_CHARS].splitlines() if line.strip()]
    return "\n".join(lines[:OPENING_LINES])


@dataclass
class _Evidence:
    groups: dict[str, int]  # slug → best rank
    where: dict[str, str]  # slug → where it was named, for the reason

    def top(self) -> list[str]:
        if not self.groups:
            return []
        best = max(self.groups.values())
        return sorted(s for s, r in self.groups.items() if r == best)


def _merge(sources: Iterable[tuple[str, str]], keys: list[group_names.Key]) -> _Evidence:
    evidence = _Evidence({}, {})
    for where, text in sources:
        for slug, rank in group_names.find(text, keys).items():
            if rank > evidence.groups.get(slug, 0):
                evidence.groups[slug] = rank
                evidence.where[slug] = where
    return evidence


def _split(address: str) -> tuple[str, str, str]:
    """(local part without +tag, tag, domain), compared case-insensitively."""
    local, _at, domain = address_key(address).strip("<>").rpartition("@")
    base, _plus, tag = local.partition("+")
    return base, tag, domain


def _recipients(
    parsed: ParsedMessage, envelope_to: list[str], directory: Directory, keys: list[group_names.Key]
) -> tuple[_Evidence, list[str]]:
    aliases = {group_names.fold(a): g.slug for g in directory.groups for a in (*g.aliases,)}
    slugs = {group_names.fold(g.slug): g.slug for g in directory.groups}
    protocol_base, _tag, protocol_domain = _split(directory.protocol_address)
    domain = directory.domain.lower()
    evidence = _Evidence({}, {})
    unknown_tags: list[str] = []
    seen: set[str] = set()
    for address in [*envelope_to, *parsed.to]:
        if not address or address_key(address) in seen:
            continue
        seen.add(address_key(address))
        base, tag, at = _split(address)
        slug = None
        if at == domain and group_names.fold(base) in aliases:
            slug = aliases[group_names.fold(base)]
        elif at == protocol_domain and base == protocol_base and tag:
            slug = aliases.get(group_names.fold(tag)) or slugs.get(group_names.fold(tag))
            if slug is None:
                named = _Evidence(group_names.find(tag.replace("-", " ").replace("_", " "), keys), {}).top()
                slug = named[0] if len(named) == 1 else None
            if slug is None:
                unknown_tags.append(address)
        if slug is not None:
            evidence.groups[slug] = group_names.FULL_NAME
            evidence.where.setdefault(slug, _("Empfängeradresse %(address)s") % {"address": address_key(address)})
    return evidence, unknown_tags


def route(parsed: ParsedMessage, envelope_to: list[str], directory: Directory) -> Routing:
    """Decide the group of a protocol, or hold it for review, with a German reason for the coordinator."""
    keys = group_names.keys(tuple(directory.groups))
    names = {g.slug: g.name for g in directory.groups}
    sender = directory.senders.get(address_key(parsed.sender)) if parsed.sender else None

    by_recipient, unknown_tags = _recipients(parsed, envelope_to, directory, keys)
    forwarded = [(_("in der weitergeleiteten Nachricht „%(subject)s“") % {"subject": f.subject},
                  f"{f.subject}\n{_opening(f.text)}")
                 for f in parsed.forwarded]
    # Every attachment's file name counts (a scanned PDF has no text, but "Protokoll_AG_Gesundheit.pdf" says a lot).
    documents = [(_("im Anhang „%(file)s“") % {"file": a.filename}, f"{a.filename}\n{_opening(a.text)}")
                 for a in parsed.attachments if not a.inline]
    steps = [
        by_recipient,
        _merge([(_("im Betreff „%(subject)s“") % {"subject": parsed.subject.strip()}, parsed.subject)], keys),
        _merge([*forwarded, (_("am Anfang der Nachricht"), _opening(parsed.text)), *documents], keys),
    ]

    if sender is None:
        who = parsed.sender or _("ohne lesbare Adresse")
        claimed = next((ev.top() for ev in steps if ev.top()), [])
        hint = (" " + _("Die Nachricht nennt %(groups)s.") % {"groups": _names(claimed, names)}) if claimed else ""
        return Routing(HELD, None, _("Zur Prüfung zurückgehalten: Absender %(sender)s ist kein bekannter "
                                       "Bündnispartner.") % {"sender": who} + hint)

    for index, evidence in enumerate(steps):
        candidates = evidence.top()
        if not candidates:
            continue
        chosen, note = _narrow(candidates, steps[index + 1:], sender.groups)
        if chosen is None:
            places = _(" und ").join(dict.fromkeys(evidence.where[c] for c in candidates))
            return Routing(HELD, None, _("Zur Prüfung zurückgehalten: mehrere Gruppen kommen in Frage "
                                           "(%(groups)s), %(places)s.")
                           % {"groups": _names(candidates, names), "places": places})
        where = evidence.where[chosen] + note
        if chosen in sender.groups:
            return Routing(FILED, chosen, _("Abgelegt unter %(group)s: %(where)s.")
                           % {"group": names[chosen], "where": where})
        if sender.role == "coordinator":
            return Routing(FILED, chosen, _("Abgelegt unter %(group)s: %(where)s (Absender ist Koordinator/in).")
                           % {"group": names[chosen], "where": where})
        return Routing(HELD, chosen, _("Zur Prüfung zurückgehalten: %(group)s ist genannt (%(where)s), aber der "
                                         "Absender %(sender)s gehört nicht zu dieser Gruppe.")
                       % {"group": names[chosen], "where": where, "sender": parsed.sender})

    tags = (" " + _("Die Empfängeradresse %(address)s passt zu keiner Gruppe.") % {"address": unknown_tags[0]}
            if unknown_tags else "")
    own = [g for g in sender.groups if g in names]
    if len(own) == 1:
        return Routing(FILED, own[0], _("Abgelegt unter %(group)s: keine Gruppe genannt, der Absender gehört nur "
                                          "zu dieser Gruppe.") % {"group": names[own[0]]} + tags)
    if own:
        return Routing(HELD, None, _("Zur Prüfung zurückgehalten: keine Gruppe genannt, und der Absender gehört "
                                       "zu mehreren Gruppen (%(groups)s).") % {"groups": _names(own, names)} + tags)
    return Routing(HELD, None, _("Zur Prüfung zurückgehalten: keine Gruppe genannt, und der Absender gehört "
                                   "zu keiner Gruppe.") + tags)


def _narrow(candidates: list[str], later: list[_Evidence], memberships: tuple[str, ...]) -> tuple[str | None, str]:
    if len(candidates) == 1:
        return candidates[0], ""
    for evidence in later:
        named = [c for c in candidates if c in evidence.groups]
        if len(named) == 1:
            return named[0], " " + _("(auch %(where)s)") % {"where": evidence.where[named[0]]}
    own = [c for c in candidates if c in memberships]
    if len(own) == 1:
        return own[0], " " + _("(unter mehreren genannten Gruppen die des Absenders)")
    return None, ""


def _names(slugs: Iterable[str], names: dict[str, str]) -> str:
    """Group names in the order the alliance lists its groups."""
    wanted = set(slugs)
    return ", ".join(name for slug, name in names.items() if slug in wanted)


def accepts_recipient(address: str, directory: Directory, own_addresses: Iterable[str | None] = ()) -> bool:
    """Whether RCPT TO `address` is one of the alliance's own addresses (anything else gets 550 5.1.1).

    Own are: the protocol address, with any `+tag` (a tag that names no group is still delivered; routing
    then decides by the subject and text); each group alias at the alliance domain, also with a `+tag`; and
    `own_addresses` (office, bounce, unsubscribe), each also with a `+tag` (VERP: `bounces+token@…`, whose
    token is checked later, not here). Compared case-insensitively.
    """
    try:
        base, _tag, domain = _split(address)
    except (AttributeError, TypeError):
        return False
    if not base or not domain:
        return False
    for own in (directory.protocol_address, *own_addresses):
        if own:
            own_base, _own_tag, own_domain = _split(own)
            if (base, domain) == (own_base, own_domain):
                return True
    return domain == directory.domain.lower() and any(
        group_names.fold(base) == group_names.fold(alias) for g in directory.groups for alias in g.aliases
    )
