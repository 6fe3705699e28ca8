"""File-system helpers used everywhere: the cache root, atomic writes and JSON files.

- :func:`cache_root` is the one rule for where fertk caches things (weights, prepared data
  sets, ONNX exports): ``$FERTK_CACHE_DIR``, else ``$XDG_CACHE_HOME/fertk``, else
  ``~/.cache/fertk``; each user of the cache takes a sub-folder (``weights``, ``prepared``,
  ``onnx``).
- :func:`atomic_path` / :func:`atomic_write` write a file so that readers see the old file
  or the complete new one, never a half-written file (temporary file in the same folder,
  flushed to disk, then ``os.replace``). :class:`Staged` does the same for a group of files
  written over time (the outputs of one ``fertk run`` source): each is written under a
  temporary name (:func:`temporary_name`, which keeps the suffix, so writers that pick a
  format from the name still can) and all are renamed into place by ``commit``, or removed
  by ``discard``. :func:`write_problem` turns an ``OSError`` of writing (disk full, read-only
  disk, no permission) into one line.
- :func:`check_out_dir` / :func:`make_dir`: an output folder that is a file, lies under a
  file or cannot be created is one :class:`~fertk.errors.FertkError` naming the option and
  the path, before any work starts.
- :func:`json_default` is the one ``json.dumps(default=...)`` for numpy values, paths, sets
  and tuples; :func:`write_json` writes JSON atomically with it.

Nothing heavy is imported here (no numpy import: a numpy value can only exist if numpy is
loaded already), so ``fertk --help`` and ``fertk list`` may use it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """The fertk cache root: ``$FERTK_CACHE_DIR``, else ``$XDG_CACHE_HOME/fertk``, else ``~/.cache/fertk``."""
    env = os.environ.get("FERTK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "fertk"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; when the block ends without an error, the
    file written there is flushed to disk and moved over ``target`` (``os.replace``), with the
    usual permissions (``0666`` minus the umask). On an error the temporary file is removed
    and ``target`` is left as it was.

    For writers that want a path (``torch.save``, safetensors' ``save_file``)::

        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    """
    final = Path(target)
    if final.is_dir():
        from fertk.errors import FertkError

        raise FertkError(f"{final} is a folder: name a file to write")
    tmp = temporary_name(final)
    try:
        yield tmp
        _move_into_place(tmp, final)
    except BaseException:  # any failure (KeyboardInterrupt included) must not leave the temp file
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


#: The part of a temporary name that marks it (``.NAME.<random>.tmp.SUFFIX``).
TEMPORARY_MARK = ".tmp"


def temporary_name(target: str | os.PathLike[str]) -> Path:
    """A new empty file beside ``target`` to write it under: hidden, ``.NAME.<random>.tmp``
    plus ``target``'s suffix (``.x.csv.k2j1.tmp.csv``), creating the folder if needed."""
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f"{TEMPORARY_MARK}{final.suffix}",
                                dir=final.parent)
    os.close(fd)
    return Path(name)


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a name :func:`temporary_name` made (left behind by a killed run)."""
    name = Path(path).name
    return name.startswith(".") and f"{TEMPORARY_MARK}." in name or name.endswith(TEMPORARY_MARK)


def _move_into_place(tmp: Path, final: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
    os.replace(tmp, final)


class Staged:
    """Files written under temporary names and renamed into place together.

    ``staged.path(final)`` gives the temporary name to write ``final`` under; ``commit()``
    flushes each to disk and renames it into place, in the order they were staged except
    that ``last`` (a file whose presence says the others are complete) goes last;
    ``discard()`` removes every temporary file (a failed write leaves no final name).
    """

    def __init__(self) -> None:
        self.files: dict[Path, Path] = {}

    def path(self, final: str | os.PathLike[str]) -> Path:
        final = Path(final)
        if final not in self.files:
            self.files[final] = temporary_name(final)
        return self.files[final]

    def commit(self, last: str | os.PathLike[str] | None = None) -> None:
        order = sorted(self.files, key=lambda f: last is not None and f == Path(last))
        try:
            for final in order:
                _move_into_place(self.files[final], final)
                del self.files[final]
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        for tmp in self.files.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.files.clear()


#: ``errno`` values of writing that say the disk, not the program, is at fault (full, over a
#: quota or a file-size limit, read-only): ``fertk.cli.main`` reports them in one line.
WRITE_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS")
                         if hasattr(errno, name))


def write_problem(exc: OSError, what: str, atomic: bool = True) -> str:
    """One line for an ``OSError`` of writing ``what``: the reason, and for a full disk how
    to go on (``atomic``: the writer left nothing half-written under a final name)."""
    reason = exc.strerror or str(exc)
    if exc.errno in WRITE_ERRNOS - {errno.EROFS}:
        kept = "nothing half-written was left under a final name; " if atomic else ""
        return f"cannot write {what}: {reason} ({kept}free some space and run the same command again)"
    return f"cannot write {what}: {reason}"


def atomic_write(target: str | os.PathLike[str], data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text or bytes) to ``target`` atomically (see :func:`atomic_path`)."""
    with atomic_path(target) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
    return Path(target)


def _dir_problem(path: Path) -> str | None:
    """Why folder ``path`` cannot be used for output (``None``: it can)."""
    if path.exists():
        if not path.is_dir():
            return f"{path} is a file, not a folder"
        return None if os.access(path, os.W_OK | os.X_OK) else f"no permission to write in {path}"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create the folder: {parent} is a file"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create the folder: no permission to write in {parent}"
    return None


def check_out_dir(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """``path`` as a :class:`Path` when an output folder can be there (it exists, or can be
    created); one :class:`FertkError` naming ``flag`` and the reason otherwise. Creates nothing."""
    from fertk.errors import FertkError

    p = Path(path).expanduser()
    problem = _dir_problem(p)
    if problem:
        raise FertkError(f"{flag} {path}: {problem}")
    return p


def make_dir(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """Create output folder ``path`` (and its parents); one :class:`FertkError` naming ``flag``
    when it cannot be created (a file in the way, no permission, a read-only disk)."""
    from fertk.errors import FertkError

    p = check_out_dir(path, flag)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FertkError(f"{flag} {path}: cannot create the folder ({exc.strerror or exc})") from None
    return p


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike[str], flag: str = "--out") -> Iterator[Path]:
    """Create output folder ``path`` (:func:`make_dir`) and hold it exclusively while the block
    runs: a second fertk process writing the same folder (a second ``fertk compare`` on the same
    OUT, a second ``fertk train --resume`` of the same run) gets one :class:`FertkError` naming
    ``flag`` before it writes anything, instead of interleaving its files with the first's.

    The lock is the kernel's (``flock`` on the folder itself): it leaves no file behind, a
    killed process lets go of it, and it is per open folder, so nested locks must be on
    different folders. Where ``flock`` does not exist (Windows) the block runs unlocked."""
    from fertk.errors import FertkError

    p = make_dir(path, flag)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield p
        return
    fd = os.open(p, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FertkError(f"{flag} {path}: another fertk process is writing to this folder; "
                             f"wait for it to finish, or use another {flag}") from None
        yield p
    finally:
        os.close(fd)


def json_default(obj: Any) -> Any:
    """``json.dumps(default=json_default)``: numpy scalars and arrays as numbers and lists,
    sets and tuples as lists, anything else (paths …) as its ``str``."""
    np = sys.modules.get("numpy")  # a numpy value implies numpy is loaded: no import needed
    if np is not None:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def to_json(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text: numpy values through :func:`json_default`, NaN as ``null`` and
    ±inf as ``"inf"``/``"-inf"`` (strict JSON has neither)."""
    return json.dumps(_nan_to_none(data), indent=indent, default=json_default)


def write_json(path: str | os.PathLike[str], data: Any, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON (:func:`to_json`, newline at the end) to ``path`` atomically."""
    return atomic_write(path, to_json(data, indent=indent) + "\n")
