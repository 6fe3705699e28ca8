"""Built-in data sets, registered through the ``register_datasets`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports happen only
when a component is built. Every data set yields one :class:`fertk.types.Sample` per frame
with a label indexing its ``classes`` (canonical names from
:data:`fertk.types.CANONICAL_CLASSES`, canonical order); see :mod:`fertk.datasets.base`.
Third parties add more (RAF-DB, AffectNet, …) through the same hook.
"""

from __future__ import annotations

from fertk.hookspecs import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "ckplus",
        "fertk.datasets.ckplus:build_ckplus",
        description="CK+ official layout (cohn-kanade-images/, Emotion/, optional Landmarks/)",
        aliases=("ck+",),
        options=["mode", "last_k", "neutral", "neutral_frames", "classes", "labelled_only"],
        landmarks="dlib68",
    )
    register(
        "oulu_casia",
        "fertk.datasets.oulu:build_oulu_casia",
        description="Oulu-CASIA OriginalImg/{VL,NI}/{Strong,Weak,Dark}/P###/<Class>/",
        aliases=("oulu",),
        options=["spectrum", "light", "mode", "last_k", "neutral", "neutral_frames", "classes"],
    )
    register(
        "folder",
        "fertk.datasets.folder:build_folder",
        description="Generic root/<class>/<image> stills and root/<class>/<sequence>/<frames>",
        options=["subject_pattern", "canonical", "mode", "last_k", "neutral", "classes"],
    )
    register(
        "fer2013",
        "fertk.datasets.fer2013:build_fer2013",
        description="FER2013 CSV (emotion, pixels, Usage); 48x48 faces, detector 'none'",
        options=["usage", "classes"],
    )
    register(
        "ferplus",
        "fertk.datasets.ferplus:build_ferplus",
        description="FER+ (FER2013 faces, ten annotators' votes, 8 classes with contempt): "
                    "FER2013Train|Valid|Test folders or fer2013.csv + fer2013new.csv",
        aliases=("fer+",),
        options=["labels", "usage", "classes"],
    )
