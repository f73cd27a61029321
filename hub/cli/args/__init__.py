"""The subcommands' arguments and help texts, and which handler runs each ("module:function" in hub/cli/).

These modules import nothing but the parser helpers and the catalog: `hub --help` reads all of them.
Choices that the core also knows (states, roles) are written out here for the same reason;
tests/test_cli_language.py checks that they match.
"""
