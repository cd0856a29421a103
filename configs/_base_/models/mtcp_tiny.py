"""A tiny MT-CP for tests and the CPU demo: the model of ``mtcp.py`` at toy
sizes (C = 32: GroupNorm(32) in the pixel decoder needs a multiple of 32)."""

_base_ = ["./mtcp.py"]

model = dict(
    num_classes=dict(semseg=4),
    backbone=dict(arch="tiny"),
    decoder=dict(in_channels=32, depths=(1, 1, 1), num_heads=(1, 1, 1)),
)
