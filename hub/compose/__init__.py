"""Compose: every kind of mail the hub writes, from its templates (package data in `templates/`) to
subject, plain text and HTML in the reader's language."""
