"""ONNX export of checkpoints with a parity check (``fertk export``).

``export_onnx(checkpoint, out)`` writes ``<out>.onnx`` (the backbone: input ``input``
(N, C, H, W) float, outputs ``logits`` and, when the backbone has ``forward_features``,
``features``) and, with ``with_head``, ``<out>.head.onnx`` (the temporal head: input
``window`` (B, T, D), output ``logits``), plus ``<out>.json``: the checkpoint's metadata with
an ``onnx`` section (file names, opset, parity). Every export runs the same inputs through
PyTorch and onnxruntime and refuses a model whose probabilities differ by more than ``atol``.

The writer and the parity check are :mod:`fertk.inference.onnx`; loading and running an
export is :func:`fertk.inference.load_onnx_model` and :class:`fertk.inference.OnnxClassifier`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fertk.errors import FertkError
from fertk.fsutil import to_json
from fertk.inference.onnx import DEFAULT_OPSET, export_backbone, export_head
from fertk.option_types import Range


@dataclass
class ExportResult:
    """Files written and the parity measured (max abs difference of probabilities)."""

    model: Path
    head: Path | None
    metadata: Path
    backbone_diff: float
    head_diff: float | None


#: The tolerances of the parity check: above 0 (0 would refuse any rounding), at most 1 (the
#: largest difference of two probabilities); ``nan`` would switch the check off.
ATOL_RANGE = Range(0, 1, lo_open=True)


def export_onnx(
    checkpoint: Any,
    out: str | os.PathLike | None = None,
    *,
    with_head: bool = False,
    opset: int = DEFAULT_OPSET,
    atol: float = 1e-4,
    samples: int = 4,
) -> ExportResult:
    """Export a checkpoint (path, weight name or :class:`~fertk.checkpoint.Checkpoint`);
    ``atol``: the largest allowed difference of the probabilities, in :data:`ATOL_RANGE`."""
    import torch

    from fertk.option_types import Refused, checked

    try:
        atol = checked(atol, float, ATOL_RANGE)
    except Refused as exc:
        raise FertkError(f"--atol {atol}: must be {exc.expected} (the largest allowed difference "
                         "of the probabilities)") from None

    from torch.onnx._constants import ONNX_MIN_OPSET
    from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET as top

    from fertk.checkpoint import Checkpoint, build_from_checkpoint, load_checkpoint

    if not isinstance(opset, int) or not ONNX_MIN_OPSET <= opset <= top:
        raise FertkError(f"--opset {opset}: this torch exports opsets {ONNX_MIN_OPSET} to {top} "
                         f"(default {DEFAULT_OPSET})")
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    net, head = build_from_checkpoint(ckpt)
    if with_head and head is None:
        raise FertkError(f"{ckpt.label}: --with-head asked, but the checkpoint has no temporal head")
    meta = dict(ckpt.metadata)
    base = Path(out) if out is not None else Path(ckpt.path).with_suffix("")
    if base.suffix == ".onnx":
        base = base.with_suffix("")
    from fertk.fsutil import Staged, make_dir, write_problem

    make_dir(base.parent, "--out")  # a file in the way, no permission: one line
    model_path = base.with_name(base.name + ".onnx")
    gen = torch.Generator().manual_seed(0)
    opts = dict(opset=opset, atol=atol, samples=samples, generator=gen)
    staged = Staged()  # the files appear together once the parity checks passed
    head_path, hdiff = None, None
    try:
        outputs, bdiff = export_backbone(net, meta["input_spec"], staged.path(model_path),
                                         name=model_path, **opts)
        if with_head:
            head_path = base.with_name(base.name + ".head.onnx")
            hdiff = export_head(head, staged.path(head_path), name=head_path, **opts)
        meta["onnx"] = {
            "model": model_path.name,
            "head": head_path.name if head_path else None,
            "outputs": outputs,
            "opset": opset,
            "parity_max_abs_diff": {"backbone": bdiff, "head": hdiff},
            "checkpoint": str(ckpt.path),
        }
        meta_path = base.with_name(base.name + ".json")
        staged.path(meta_path).write_text(to_json(meta) + "\n", encoding="utf-8")
        staged.commit(last=meta_path)
    except OSError as exc:  # a read-only place, /proc, a full disk: one line, no file left
        staged.discard()
        raise FertkError(f"--out {base}: {write_problem(exc, 'the export')}") from None
    except BaseException:
        staged.discard()
        raise
    return ExportResult(model_path, head_path, meta_path, bdiff, hdiff)


__all__ = ["DEFAULT_OPSET", "ExportResult", "export_onnx"]
