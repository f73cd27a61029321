"""The message ids are German: a German catalog's missing translations are the ids themselves.

Usage: python scripts/fill_german.py hub/locale/de/LC_MESSAGES/*.po  (called by scripts/update-translations)
"""

import sys

from babel.messages.pofile import read_po, write_po

for path in sys.argv[1:]:
    with open(path, "rb") as fp:
        catalog = read_po(fp, locale="de")
    catalog.fuzzy = False
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            if not any(message.string):
                message.string = (message.id[0], message.id[1])
        elif not message.string:
            message.string = message.id
        message.flags.discard("fuzzy")
    with open(path, "wb") as fp:
        write_po(fp, catalog, omit_header=False, no_location=True, sort_output=True, width=120)
