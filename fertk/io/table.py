"""One results table for a whole ``fertk run`` collection (Parquet, via pyarrow).

Besides each source's CSV, a run writes ``OUT/results/faces/NAME.parquet`` (one row per face
per processed frame, a frame without a face one row with ``faces`` = 0, the CSV's columns plus
``name``; :func:`face_schema`) and ``OUT/results/tracks/NAME.parquet`` (one row per track,
or per image for stills; :func:`track_schema`). Each file is written under a temporary name
with the source's other files and renamed into place when the source is complete, so the
folders only ever hold complete sources, and the tasks of a SLURM array may add theirs to one
folder. Read together they are one table: :func:`read_results` (``fertk.read_results``).

The schema is versioned (:data:`SCHEMA_VERSION`, in each file's metadata as
``fertk.schema``, with the class names as ``fertk.classes``); docs/run.md lists the columns.
Memory stays flat: rows are written in row groups of :data:`ROW_GROUP` rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from fertk.errors import FertkError

#: Version of the tables' columns (``fertk.schema`` in each file's metadata).
SCHEMA_VERSION = 1
#: Sub-folders of ``OUT`` that hold the two tables.
FACES_DIR = Path("results") / "faces"
TRACKS_DIR = Path("results") / "tracks"
#: Rows buffered before a row group is written.
ROW_GROUP = 4096


def _pa() -> Any:
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise FertkError("the results table needs pyarrow: pip install pyarrow "
                         "(or run with --no-table)") from None
    return pyarrow


def face_schema(classes: list[str], landmarks: int = 0) -> Any:
    """The columns of the faces table: ``name`` (the source's output name), then the CSV's
    (docs/run.md), always with the ``frame_label``/``frame_p_*`` columns (null where the
    source has none) and with ``x_i``/``y_i`` when the run has ``--landmarks``."""
    pa = _pa()
    fields = [("name", pa.string()), ("source", pa.string()), ("frame", pa.int64()),
              ("time", pa.float64()), ("detected", pa.bool_()), ("faces", pa.int32()),
              ("face", pa.int32()), ("track", pa.int64()),
              *[(k, pa.float32()) for k in ("x1", "y1", "x2", "y2", "score")],
              ("label", pa.string()), ("confidence", pa.float32()),
              *[(f"p_{c}", pa.float32()) for c in classes],
              ("frame_label", pa.string()), *[(f"frame_p_{c}", pa.float32()) for c in classes],
              *[(f"{a}_{i}", pa.float32()) for a in ("x", "y") for i in range(landmarks)]]
    return pa.schema(fields, metadata=_metadata(classes))


def track_schema(classes: list[str]) -> Any:
    """The columns of the tracks table: ``name``, ``source``, ``track`` (null for stills),
    ``frames``, ``start``, ``end``, ``seconds``, ``dominant``, then per class ``s_<class>``
    (seconds in it), ``n_<class>`` (frames, or faces of an image, showing it) and
    ``mean_p_<class>`` (its mean probability)."""
    pa = _pa()
    fields = [("name", pa.string()), ("source", pa.string()), ("track", pa.int64()),
              ("frames", pa.int64()), ("start", pa.float64()), ("end", pa.float64()),
              ("seconds", pa.float64()), ("dominant", pa.string()),
              *[(f"s_{c}", pa.float64()) for c in classes],
              *[(f"n_{c}", pa.int64()) for c in classes],
              *[(f"mean_p_{c}", pa.float32()) for c in classes]]
    return pa.schema(fields, metadata=_metadata(classes))


def _metadata(classes: list[str]) -> dict[bytes, bytes]:
    return {b"fertk.schema": str(SCHEMA_VERSION).encode(),
            b"fertk.classes": json.dumps(list(classes)).encode()}


class FacesTableWriter:
    """Rows of one source, appended to its Parquet file (``path``) in row groups."""

    def __init__(self, path: str | os.PathLike, name: str, classes: list[str],
                 landmarks: int = 0):
        import pyarrow.parquet as pq

        self.name = name
        self.landmarks = int(landmarks or 0)
        self.schema = face_schema(list(classes), self.landmarks)
        self._writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def write(self, rec: Any) -> None:
        from fertk.io.results import rows

        for row in rows(rec, landmarks=self.landmarks, frame_label=True):
            row["name"] = self.name
            self._rows.append(row)
        if len(self._rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            pa = _pa()
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self.count += len(self._rows)
            self._rows = []

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._flush()
            finally:
                writer, self._writer = self._writer, None
                writer.close()


def write_tracks(path: str | os.PathLike, name: str, classes: list[str],
                 tracks: list[dict[str, Any]]) -> Path:
    """The tracks table of one source (``tracks``: :meth:`TrackSummary.rows` dicts)."""
    import pyarrow.parquet as pq

    pa = _pa()
    table = [{"name": name, "source": t["source"], "track": t["track"], "frames": t["frames"],
              "start": t["start"], "end": t["end"], "seconds": t["seconds"],
              "dominant": t["dominant"],
              **{f"s_{c}": t["time_in"][c] for c in classes},
              **{f"n_{c}": t["frames_in"][c] for c in classes},
              **{f"mean_p_{c}": t["mean_probs"][c] for c in classes}} for t in tracks]
    pq.write_table(pa.Table.from_pylist(table, schema=track_schema(list(classes))), str(path),
                   compression="zstd")
    return Path(path)


class RunTables(NamedTuple):
    """What :func:`read_results` returns: ``faces`` and ``tracks`` DataFrames."""

    faces: Any
    tracks: Any


def read_results(out: str | os.PathLike, backend: str = "pandas") -> RunTables:
    """The results table of ``fertk run``'s output folder ``out``: ``faces, tracks =
    fertk.read_results("OUT")`` (pandas DataFrames; ``backend="polars"`` for polars ones,
    ``"arrow"`` for pyarrow tables). Every complete source of the folder (and of every task
    that wrote into it) is in them, in the order of the source names; columns in docs/run.md.
    """
    import pyarrow.parquet as pq

    if backend not in ("pandas", "polars", "arrow"):
        raise FertkError(f"read_results: backend must be 'pandas', 'polars' or 'arrow', "
                         f"got {backend!r}")
    pa = _pa()
    root = Path(out).expanduser()
    faces_dir, tracks_dir = root / FACES_DIR, root / TRACKS_DIR
    if not faces_dir.is_dir():
        raise FertkError(f"{out}: no results table here (fertk run writes {FACES_DIR}/ into "
                         "its --out; was the run made with --no-table, or is this another folder?)")
    tables = []
    for folder in (faces_dir, tracks_dir):
        files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
        parts = [pq.read_table(p) for p in files]
        for p, t in zip(files, parts, strict=True):
            version = (t.schema.metadata or {}).get(b"fertk.schema", b"?").decode()
            if version != str(SCHEMA_VERSION):
                raise FertkError(f"{p}: results table schema {version}, this fertk reads "
                                 f"{SCHEMA_VERSION}: read it with the fertk that wrote it")
        tables.append(pa.concat_tables(parts, promote_options="default") if parts else None)
    if tables[0] is None:
        raise FertkError(f"{out}: the results table holds no source yet")
    if tables[1] is None:
        tables[1] = track_schema(json.loads(tables[0].schema.metadata[b"fertk.classes"])).empty_table()
    return RunTables(*(_convert(t, backend) for t in tables))


def _convert(table: Any, backend: str) -> Any:
    if backend == "arrow":
        return table
    if backend == "pandas":
        try:
            import pandas as pd
        except ImportError:
            raise FertkError("read_results needs pandas: pip install 'fertk[pandas]' "
                             "(or backend='polars' / 'arrow')") from None
        return table.to_pandas(types_mapper={
            _pa().int64(): pd.Int64Dtype(), _pa().int32(): pd.Int32Dtype(),
            _pa().string(): pd.StringDtype(), _pa().bool_(): pd.BooleanDtype()}.get)
    try:
        import polars as pl
    except ImportError:
        raise FertkError("read_results(backend='polars') needs polars: pip install polars") from None
    return pl.from_arrow(table)


__all__ = ["FACES_DIR", "ROW_GROUP", "SCHEMA_VERSION", "TRACKS_DIR", "FacesTableWriter",
           "RunTables", "face_schema", "read_results", "track_schema", "write_tracks"]
