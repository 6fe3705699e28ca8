"""CLI commands of the core: ``fertk list`` and ``fertk plugins``."""

from __future__ import annotations

import click

from fertk.clitools import print_json, print_table
from fertk.hookspecs import KINDS, hookimpl

#: Accepted spellings of each kind on the command line.
KIND_ALIASES = {
    "detector": "detectors",
    "crop": "crops",
    "crop-policies": "crops",
    "backbone": "backbones",
    "temporal-heads": "temporal",
    "heads": "temporal",
    "head": "temporal",
    "dataset": "datasets",
    "augmentation": "augmentations",
    "augment": "augmentations",
    "weight": "weights",
}


def resolve_kind(kind: str) -> str:
    from fertk.registry import UnknownComponentError

    key = KIND_ALIASES.get(kind, kind)
    if key not in KINDS:
        raise UnknownComponentError("component kind", kind, list(KINDS))
    return key


@click.command("list")
@click.argument("kind", metavar="KIND", shell_complete=lambda c, p, i: [k for k in KINDS if k.startswith(i)])
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_command(kind: str, pattern: str | None, as_json: bool) -> None:
    """List the registered components of KIND, optionally matching a glob PATTERN.

    KIND is one of: detectors, crops, backbones, temporal, datasets, augmentations, weights, engines.
    """
    from fertk.plugins import get_registry

    registry = get_registry(resolve_kind(kind))
    specs = [s for s in registry if pattern is None or s.name in registry.names(pattern)]
    if as_json:
        print_json([s.as_dict() for s in specs])
        return
    rows = [[s.display_name, s.plugin, s.description] for s in specs]
    print_table(f"{registry.kind} ({len(rows)})", ["name", "plugin", "description"], rows)


@click.command("plugins")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(show_all: bool, as_json: bool) -> None:
    """Show installed plugins, their versions and the hooks they implement."""
    from fertk.plugins import plugin_infos

    infos = plugin_infos(include_builtins=show_all)
    if as_json:
        print_json([i.as_dict() for i in infos])
        return
    rows = [
        [
            i.name,
            "built-in" if i.builtin else (i.distribution or "in-process"),
            i.version or "",
            ", ".join(i.hooks),
            "; ".join(i.errors) or "ok",
        ]
        for i in infos
    ]
    title = "plugins" if show_all else "third-party plugins (--all adds the built-ins)"
    print_table(title, ["name", "distribution", "version", "hooks", "status"], rows)


@hookimpl
def register_commands(cli):
    cli.add_command(list_command)
    cli.add_command(plugins_command)
