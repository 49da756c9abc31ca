"""`supervisorctl-lite top` (SPEC §14): the entry (top), what it shows (model), the
screen's text (draw), the daemons' connections (link) and the screen (view).

Reached only through the lazy imports in ctl/commands.py's cmd_top and ctl/main.py's
-H branch, so that no other command loads it; view is the only importer of urwid, the
`top` extra (both kept by import-linter's contracts in pyproject.toml). This file
imports nothing.
"""
