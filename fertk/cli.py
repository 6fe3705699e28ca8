"""The ``fertk`` command line: a click group whose commands come from plugins.

Built-in commands are registered through the ``register_commands`` hook like any other
plugin's. User errors end in one ``Error: …`` line and no traceback.
"""

from __future__ import annotations

import signal
import sys

import click

from fertk import __version__
from fertk.errors import FertkError


class FertkGroup(click.Group):
    """A group that lists commands in a stable order and loads plugin commands lazily.

    Commands are (re)loaded whenever the set of plugins changed since the last load, so a
    plugin registered in-process (tests, notebooks) adds its commands too. A command name
    belongs to the first plugin that adds it (built-ins come first); a later one is refused
    with a warning naming both.
    """

    _loaded_generation: int | None = None
    _plugin_commands: frozenset[str] = frozenset()

    def __init__(self, *args, **kwargs):
        self._owners: dict[str, str] = {}  # command name -> plugin that added it
        super().__init__(*args, **kwargs)

    def add_command(self, cmd, name=None):
        from fertk import plugins

        name = name or cmd.name
        plugin = plugins.calling_plugin() or "<direct>"
        taken = self.commands.get(name)
        if taken is not None and taken is not cmd:
            owner = self._owners.get(name, "<direct>")
            plugins.record_error(plugin, f"command '{name}' is registered twice: by plugin "
                                         f"'{owner}' and by plugin '{plugin}'")
            return
        super().add_command(cmd, name)
        self._owners.setdefault(name, plugin)

    def _ensure_plugins(self) -> None:
        from fertk import plugins

        if self._loaded_generation == plugins.generation():
            return
        for name in self._plugin_commands:
            self.commands.pop(name, None)
            self._owners.pop(name, None)
        before = set(self.commands)
        plugins.call_each("register_commands", cli=self)
        self._plugin_commands = frozenset(set(self.commands) - before)
        self._loaded_generation = plugins.generation()

    def list_commands(self, ctx):
        self._ensure_plugins()
        return sorted(self.commands)

    def get_command(self, ctx, cmd_name):
        self._ensure_plugins()
        return self.commands.get(cmd_name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FertkError as exc:  # user errors: one line, also under click's CliRunner
            raise click.ClickException(str(exc)) from exc


@click.group(cls=FertkGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fertk")
def cli() -> None:
    """fertk: facial expression recognition from swappable detectors, crops, backbones
    and temporal heads.

    \b
    Examples:
      fertk list backbones
      fertk plugins --all
      fertk run examples/media/grace_hopper.jpg
      fertk run examples/media/pexels_wolfgang_langer.mp4 --detector dlib --temporal average --max-frames 60
    """


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one line per user error, tracebacks only for bugs; SIGTERM
    stops a command like Ctrl-C (:mod:`fertk.signals`), exit status ``128 + signal``."""
    from fertk import signals

    try:
        # without standalone mode click returns what the command returns, and a
        # ``click.exceptions.Exit`` raised by a command comes back as its exit code
        with signals.stop_on_signals():
            code = cli.main(args=argv, prog_name="fertk", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Terminated." if signals.received() == signal.SIGTERM else "Aborted.", err=True)
        return signals.exit_code(130)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        click.echo(f"Error: {_usage_message(exc)}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    except FertkError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Terminated." if signals.received() == signal.SIGTERM else "Interrupted.",
                   err=True)
        return signals.exit_code(130)
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a full or read-only disk in any command: one line, not a bug
        from fertk.fsutil import WRITE_ERRNOS, write_problem

        if exc.errno not in WRITE_ERRNOS:
            raise
        click.echo(f"Error: {write_problem(exc, exc.filename or 'a file', atomic=False)}", err=True)
        return 1
    return code if type(code) is int else 0  # a command may return other values


def _usage_message(exc: click.UsageError) -> str:
    msg = exc.format_message()
    cmd = exc.ctx.command_path if exc.ctx is not None else "fertk"
    return f"{msg} (see '{cmd} --help')".replace("\n", " ")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
