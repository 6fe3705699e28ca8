"""Every example in ``--help``, README.md and docs/*.md works as written (issue #16 item 3).

The examples are collected from the help of every command (after ``Examples:``) and from the
``bash`` blocks of the docs (lines starting with ``fertk`` or ``$ fertk``). Each one is
parsed by the real command line (options exist, component names are registered, registered
weight names exist). Those that need no data set, trained run, webcam or GPU are then run in
a folder that holds what the examples name as the user's files (``clip.mp4``, ``photo.jpg``,
``photos/`` ...: short generated and bundled media) and links to ``examples/`` and ``tests/``.
An example followed by an ``Error:`` line in the docs must fail with that error. The Python
blocks of README.md and docs/run.md run too.
"""

from __future__ import annotations

import glob
import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fertk.cli import cli

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: Commands that need a data set, a trained run or minutes of measuring.
NEEDS_DATA = {"train", "eval", "compare", "prepare", "splits", "synth", "export",
              "weights import"}
#: Arguments that name a data set, a trained run, a webcam or a GPU.
EXTERNAL = re.compile(r"(~/|/data|/scratch|\bruns?/|exported/|ckplus-compact|--device cuda|"
                      r"^fertk run 0 |\$\{?SLURM)")


def _help_examples() -> list[tuple[str, str]]:
    found = []

    def walk(group: click.Group, prefix: str) -> None:
        ctx = click.Context(group)
        for text in [group.help or ""] if not prefix else []:
            found.extend(("fertk --help", ln) for ln in _examples_in(text))
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            if isinstance(cmd, click.Group):
                walk(cmd, f"{prefix}{name} ")
            elif cmd.help and "Examples:" in cmd.help:
                found.extend((f"fertk {prefix}{name} --help", ln) for ln in _examples_in(cmd.help))

    walk(cli, "")
    return found


def _examples_in(text: str) -> list[str]:
    lines = text.split("Examples:", 1)[1].splitlines() if "Examples:" in text else []
    return _join([ln.strip() for ln in lines if ln.strip().startswith("fertk ")
                  or ln.startswith("        ")])


def _join(lines: list[str]) -> list[str]:
    out: list[str] = []
    for ln in lines:
        if out and out[-1].endswith("\\"):
            out[-1] = out[-1][:-1].rstrip() + " " + ln.strip()
        elif ln.strip().startswith("fertk "):
            out.append(ln.strip())
    return out


def _doc_examples() -> list[tuple[str, str, str | None]]:
    """(file, command line, expected error or None) of the bash blocks."""
    found = []
    for path in DOCS:
        block, lines = None, path.read_text(encoding="utf-8").splitlines()
        for k, line in enumerate(lines):
            if line.startswith("```"):
                block = None if block is not None else line[3:].strip()
                continue
            if block is None or not re.match(r"^(\$ )?fertk ", line):
                continue
            text = line[2:] if line.startswith("$ ") else line
            k2 = k
            while text.rstrip().endswith("\\"):
                k2 += 1
                text = text.rstrip()[:-1] + " " + lines[k2].strip()
            nxt = lines[k2 + 1] if k2 + 1 < len(lines) else ""
            found.append((path.name, text.strip(), nxt if nxt.startswith("Error:") else None))
    return found


HELP = _help_examples()
DOC = _doc_examples()


def _argv(line: str) -> list[str]:
    """The arguments a POSIX shell would pass (unquoted globs expanded, comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    argv = []
    for tok in list(lexer)[1:]:
        quoted = f"'{tok}'" in line or f'"{tok}"' in line
        matches = sorted(glob.glob(tok)) if glob.has_magic(tok) and not quoted else []
        argv.extend(matches or [tok])
    return argv


def _command(argv: list[str]) -> click.Command:
    cmd: click.Command = cli
    words = []
    for a in argv:
        if not isinstance(cmd, click.Group) or a.startswith("-"):
            break
        cmd = cmd.get_command(click.Context(cli), a)
        assert cmd is not None, f"no command {' '.join(words + [a])}"
        words.append(a)
    return cmd, words


def _needs_data(line: str, argv: list[str]) -> bool:
    _, words = _command(argv)
    name = " ".join(words)
    if name in NEEDS_DATA or EXTERNAL.search(line):
        return True
    return name == "models" and "--no-timing" not in argv  # measures speed: minutes


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A folder holding what the examples call the user's files."""
    import importlib.util

    import cv2

    from fertk.io.video import write_video

    spec = importlib.util.spec_from_file_location("_run_media", REPO / "tests/run/conftest.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    make_frames = helpers.make_frames
    root = tmp_path_factory.mktemp("examples")
    (root / "examples").symlink_to(REPO / "examples")
    (root / "tests").symlink_to(REPO / "tests")
    media = REPO / "examples" / "media"
    photos = sorted(media.glob("*.jpg"))
    write_video(root / "clip.mp4", make_frames(12), fps=12)
    shutil.copy(root / "clip.mp4", root / "video.mp4")
    for name in ("photo.jpg", "a.jpg", "b.jpg"):
        shutil.copy(photos[1], root / name)
    for folder in ("photos", "faces", "shots", "videos"):
        (root / folder).mkdir()
    for p in photos[:2]:
        for folder in ("photos", "faces", "shots"):
            shutil.copy(p, root / folder / p.name)
    shutil.copy(root / "clip.mp4", root / "videos" / "clip.mp4")
    (root / "frames").mkdir()
    for k, frame in enumerate(make_frames(4)):
        cv2.imwrite(str(root / "frames" / f"S005_001_{k:08d}.png"), frame)
    return root


def _weights_named(argv: list[str]) -> list[str]:
    names = [argv[k + 1] for k, a in enumerate(argv[:-1]) if a in ("--weights", "--init")]
    return [n for n in names if "/" not in n and "." not in n and not n.isupper()]


#: Weight names the docs register first (``fertk weights import ... --name NAME``).
IMPORTED = {m for _, ln, _ in DOC for m in re.findall(r"weights import \S+ --name (\S+)", ln)}


def _check_parses(argv: list[str]) -> None:
    from fertk.plugins import get_registry

    cmd, words = _command(argv)
    try:
        cmd.make_context(" ".join(["fertk", *words]), argv[len(words):])
    except click.BadParameter as exc:  # a data set folder of the user's: only its absence
        if not ("does not exist" in str(exc) and EXTERNAL.search(" ".join(argv))):
            raise
    for name in _weights_named(argv):  # a registered weight name must exist
        if name not in IMPORTED:
            get_registry("weights").get(name)


@pytest.mark.parametrize("where,line", HELP, ids=[f"{w}:{ln[:50]}" for w, ln in HELP])
def test_help_examples_parse(where, line):
    _check_parses(_argv(line))


@pytest.mark.parametrize("where,line,error", DOC, ids=[f"{w}:{ln[:50]}" for w, ln, _ in DOC])
def test_doc_examples_parse(where, line, error, monkeypatch):
    argv = _argv(line)
    if error and "Invalid value" in error:  # an example of a refused name
        with pytest.raises(click.BadParameter):
            _check_parses(argv)
    else:
        _check_parses(argv)


RUNNABLE = [(w, ln, None) for w, ln in HELP if not _needs_data(ln, _argv(ln))] + \
    [(w, ln, e) for w, ln, e in DOC if not _needs_data(ln, _argv(ln))]


def test_most_examples_run():
    assert len(RUNNABLE) >= 25, len(RUNNABLE)  # the rule above does not quietly skip them


@pytest.mark.slow
@pytest.mark.parametrize("where,line,error", RUNNABLE,
                         ids=[f"{w}:{ln[:50]}" for w, ln, _ in RUNNABLE])
def test_examples_without_data_run(where, line, error, sandbox, monkeypatch):
    monkeypatch.chdir(sandbox)
    res = CliRunner().invoke(cli, _argv(line))
    if error:
        assert res.exit_code != 0 and error.split(".")[0][:60] in res.output, res.output
    else:
        assert res.exit_code == 0, f"{where}: {line}\n{res.output}"


PY_DOCS = [REPO / "README.md", REPO / "docs" / "run.md"]


@pytest.mark.slow
@pytest.mark.parametrize("path", PY_DOCS, ids=[p.name for p in PY_DOCS])
def test_python_examples_run(path, sandbox, monkeypatch):
    monkeypatch.chdir(sandbox)
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, f"{path.name} python block", "exec"), {})  # noqa: S102
