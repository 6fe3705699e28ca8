"""Synthetic facial expression data: procedural faces, sequences, CK+ and folder layouts.

``fertk synth OUT`` (see :mod:`fertk.commands.data`) and :func:`synthesize` write data that
the ``ckplus`` and ``folder`` data sets read, with ground-truth landmarks in ``Landmarks/``.
"""

from __future__ import annotations

from fertk.synth.generate import SynthConfig, data_name, motion_classes, synthesize

__all__ = ["SynthConfig", "data_name", "motion_classes", "synthesize"]
