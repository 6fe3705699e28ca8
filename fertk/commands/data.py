"""CLI commands: data (placeholder until its capability lands)."""

from __future__ import annotations

from fertk.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    pass
