"""The ledger of a ``fertk run`` output folder: what is done, so the same command resumes.

``OUT/fertk-run.ledger.json`` records the settings that decide the results (model,
detector, crop, smoothing, which files: :func:`run_settings`) and, per source, whether it is
``done``, ``failed`` (with the error) or ``interrupted``, with the source file's size and
modification time. Running the same command again (:meth:`Ledger.plan`):

- skips a source that is done (its summary JSON is in place and the file did not change;
  a summary JSON written by a run with the same settings, ``"run": {"settings": DIGEST}``,
  also counts: a run killed between a source's last file and its ledger entry);
- re-does a source that was interrupted, is absent from the ledger or was killed mid-way
  (its temporary files, left by SIGKILL, are removed first: :func:`remove_temporaries`);
- skips a source that failed, unless ``retry_failed`` (``--retry-failed``);
- refuses, in one line, settings that differ from the ledger's (a changed model or option
  would mix results made two ways in one folder), unless ``--out`` is a new folder; in the
  default folder (``fertk-run/``, no ``--out`` given: a scratch folder for trying things)
  other settings start the ledger afresh instead (``replace_other``).

Output names are per source and the ledger is updated under a lock (:func:`_locked`), read,
merged and replaced atomically, so the tasks of a SLURM array (``--shard I/N``) may share one
folder and one ledger. Engine, device, threads, batch size, workers and shard do not enter
the settings: they do not change what is computed beyond rounding.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fertk.errors import FertkError
from fertk.fsutil import is_temporary, to_json, write_json

LEDGER = "fertk-run.ledger.json"
SCHEMA = 1

#: Pipeline settings that decide the results (the others, e.g. threads, do not).
RESULT_KEYS = ("detector", "detector_options", "crop", "crop_options", "backbone", "temporal",
               "detect_every", "scan_every", "smoothing", "hysteresis", "stride", "window",
               "image_sequence", "fps")


#: Result-changing options recorded only when set (True): embeddings in the JSONL, a face
#: required (a source without one fails).
OPTIONAL_KEYS = ("embeddings", "require_face")


def run_settings(pipe: Any, options: Any) -> dict[str, Any]:
    """What decides a run's results: the model (its name and checksum) and the pipeline's
    resolved parts, the result-changing options and which files are written."""
    from dataclasses import asdict

    parts = pipe.describe()
    meta = getattr(pipe.model, "metadata", None) or {}
    cfg = getattr(pipe, "config", {})
    settings = {key: cfg.get(key) for key in RESULT_KEYS}
    # options added later count only when set, so that earlier runs' settings still match
    settings.update({key: True for key in OPTIONAL_KEYS if cfg.get(key)})
    settings.update(
        model=parts["weights"], model_sha256=meta.get("sha256"), classes=parts["classes"],
        detector=parts["detector"], crop=parts["crop"], temporal=parts["temporal"],
        smoothing=parts["smoothing"], hysteresis=parts.get("hysteresis"),
        outputs={k: v for k, v in asdict(options).items() if k != "summary_extra"})
    return json.loads(to_json(settings))  # plain JSON values, as read back


def settings_digest(settings: dict[str, Any]) -> str:
    """A short checksum of ``settings`` (in each summary JSON of a run)."""
    import hashlib

    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _stamp(item: Any) -> dict[str, Any] | None:
    """Size and modification time of a source file (``None``: a webcam or a group)."""
    if item.kind != "video":
        paths = list(getattr(item, "paths", None) or [])
        if not paths:
            return None
        stats = [os.stat(p) for p in paths if os.path.exists(p)]
        return {"files": len(paths), "bytes": sum(s.st_size for s in stats),
                "mtime_ns": max((s.st_mtime_ns for s in stats), default=0)}
    try:
        st = os.stat(item.source)
    except OSError:
        return None
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold the ledger's lock file (``flock``; none where it does not exist)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(out_dir, os.O_RDONLY)  # the folder itself: no lock file left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_temporaries(out_dir: Path, name: str) -> list[Path]:
    """Remove the temporary files of source ``name`` a killed run left (``.NAME.*.tmp*``,
    also inside ``NAME.annotated/``); returns them."""
    found = [p for p in out_dir.glob(f".{name}.*") if is_temporary(p)]
    stills = out_dir / f"{name}.annotated"
    if stills.is_dir():
        found += [p for p in stills.rglob(".*") if is_temporary(p)]
    for p in found:
        with contextlib.suppress(OSError):
            p.unlink()
    return found


@dataclass
class Plan:
    """What a run does with its sources: ``run`` them, or reuse what is ``done`` (their
    summaries) or ``failed`` (skipped, not retried)."""

    run: list[Any] = field(default_factory=list)
    done: list[Any] = field(default_factory=list)
    failed: list[tuple[Any, str]] = field(default_factory=list)


class Ledger:
    """The ledger of output folder ``out_dir`` for a run with ``settings``."""

    def __init__(self, out_dir: str | os.PathLike, settings: dict[str, Any],
                 replace_other: bool = False):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LEDGER
        self.settings = settings
        self.digest = settings_digest(settings)
        self.replace_other = replace_other
        #: the settings that differed, when ``replace_other`` started the ledger afresh
        self.replaced: list[str] = []

    def read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FertkError(f"--out {self.out_dir}: its {LEDGER} cannot be read ({exc}); "
                             "remove it to start the run afresh, or use another --out") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise FertkError(f"--out {self.out_dir}: {LEDGER} is not a ledger of this fertk "
                             f"(schema {data.get('schema') if isinstance(data, dict) else '?'}); "
                             "use another --out")
        return data

    def check(self) -> dict[str, Any]:
        """The ledger's sources; one :class:`FertkError` when its settings differ."""
        data = self.read()
        if data is None:
            return {}
        old = data.get("settings") or {}
        changed = [k for k in sorted(set(old) | set(self.settings)) if old.get(k) != self.settings.get(k)]
        if changed and self.replace_other:
            self.replaced = changed
            return {}
        if changed:
            shown = "; ".join(f"{k}: {_short(old.get(k))} before, {_short(self.settings.get(k))} now"
                              for k in changed[:3])
            more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
            raise FertkError(f"--out {self.out_dir} holds results made with other settings "
                             f"({shown}{more}); run with the same model and options to resume "
                             "it, or use a new --out")
        return dict(data.get("sources") or {})

    def plan(self, items: list[Any], retry_failed: bool = False) -> Plan:
        """Which of ``items`` to run (see the module); removes the temporaries of those."""
        sources = self.check()
        plan = Plan()
        for item in items:
            if item.kind != "webcam" and self._finished_unrecorded(item, sources.get(item.name)):
                plan.done.append(item)
                continue
            entry = sources.get(item.name)
            if item.kind != "webcam" and entry and entry.get("source") == item.source \
                    and entry.get("stamp") == _stamp(item):
                if entry.get("status") == "done" and \
                        (self.out_dir / f"{item.name}.summary.json").is_file():
                    plan.done.append(item)
                    continue
                if entry.get("status") == "failed" and not retry_failed:
                    plan.failed.append((item, entry.get("error") or "failed"))
                    continue
            remove_temporaries(self.out_dir, item.name)
            plan.run.append(item)
        return plan

    def _finished_unrecorded(self, item: Any, entry: dict[str, Any] | None) -> bool:
        """Whether ``item``'s summary JSON says a run with these settings finished it though
        the ledger does not (killed in between): then it is recorded as done now."""
        if entry is not None and entry.get("status") == "done":
            return False
        try:
            data = json.loads((self.out_dir / f"{item.name}.summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if (data.get("run") or {}).get("settings") != self.digest or data.get("interrupted"):
            return False
        self.record(item, done_summary(self.out_dir, item))
        return True

    def record(self, item: Any, summary: Any) -> None:
        """Record how source ``item`` ended (its :class:`~fertk.io.job.JobSummary`); a
        webcam is live, never skipped, so it is not recorded."""
        if item.kind == "webcam":
            return
        status = "failed" if summary.error and not summary.interrupted else \
            "interrupted" if summary.interrupted else "done"
        entry = {"source": item.source, "kind": item.kind, "status": status,
                 "stamp": _stamp(item), "frames": summary.frames}
        if summary.error:
            entry["error"] = summary.error
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.out_dir):
            for stale in self.out_dir.glob(f".{LEDGER}.*"):  # a killed writer's, under the lock
                if is_temporary(stale):
                    with contextlib.suppress(OSError):
                        stale.unlink()
            data = self.read() or {}
            from fertk import __version__

            if data.get("settings") not in (None, self.settings):  # replace_other: afresh
                data["sources"] = {}
            data.update(schema=SCHEMA, fertk=__version__, settings=self.settings)
            data.setdefault("sources", {})[item.name] = entry
            write_json(self.path, data)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def done_summary(out_dir: Path, item: Any) -> Any:
    """The :class:`~fertk.io.job.JobSummary` of a source a previous run completed (read back
    from its summary JSON), for the final table."""
    from fertk.io.job import JobSummary

    data = json.loads((Path(out_dir) / f"{item.name}.summary.json").read_text(encoding="utf-8"))
    keys = ("decoded", "skipped_frames", "unreadable", "fps", "declared_frames", "missing_frames")
    return JobSummary(item.name, item.source, item.kind,
                      stills=item.kind == "images" and not item.sequence,
                      frames=data.get("frames", 0),
                      frames_without_face=data.get("frames_without_face", 0),
                      tracks=data.get("tracks", []), decode={k: data[k] for k in keys if k in data},
                      interrupted=data.get("interrupted"), video_codec=data.get("video_codec"),
                      files=dict(data.get("files") or {}))


__all__ = ["LEDGER", "Ledger", "Plan", "done_summary", "remove_temporaries", "run_settings",
           "settings_digest"]
