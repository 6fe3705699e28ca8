"""fertk-example: a template plugin registering one backbone and one temporal head."""

from __future__ import annotations

from fertk import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_backbones(register):
    register(
        "example_convnet",
        "fertk_example.models:ExampleConvNet",
        description="Example plugin: 3-stage conv net with BN and global pooling (96×96 gray)",
        input_size=[96, 96],
    )


@hookimpl
def register_temporal_heads(register):
    register(
        "example_attention",
        "fertk_example.models:AttentionPool",
        description="Example plugin: attention pooling over time",
    )
