"""The MT-CP model at paper size (docs/model.md).

Shared backbone: mmseg's Mask2Former Swin-S (ADE20K) with C = 256; one
hierarchical task decoder per task; CFM, SRM and heads. ``tasks`` and
``num_classes`` are NYUD-v2's; dataset configs override them. The top-level
configs choose the loss weighting (``weighting``, with its hook) and the
pretrained checkpoint (``backbone.init_cfg``).
"""

data_preprocessor = dict(
    type="MultiTaskDataPreProcessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=32,
    pad_val=0,
)
model = dict(
    type="MTCP",
    data_preprocessor=data_preprocessor,
    tasks=["semseg", "depth", "normals"],
    num_classes=dict(semseg=40),
    backbone=dict(
        type="SharedMask2Former",
        # mmseg's mask2former_swin-s_8xb2-160k_ade20k-512x512.py Swin-S and
        # Mask2Former head (C = 256). `backbone` / `decode_head` override
        # fields of the preset, e.g. backbone=dict(with_cp=True).
        arch="swin-s",
        backbone=dict(),
        decode_head=dict(),
        mask_act="sigmoid",
        mask_layers="last",
        # init_cfg: the top-level configs load mmseg's ADE20K checkpoint.
    ),
    decoder=dict(
        type="HierarchicalTaskDecoder",
        in_channels=256,
        depths=(1, 2, 1),
        num_heads=(2, 2, 2),
        window_size=7,
        mlp_ratio=4.0,
        fusion=dict(type="PyramidFusion", adaptive=True),
    ),
    cfm=dict(coherence_weight=1.0, kv_downsample=1, attention="sdpa", residual=False),
    srm=dict(),
    head=dict(),
    # Depth heads start at a typical indoor depth (metres) rather than 0.
    head_bias_init=dict(depth=2.5),
    # Per-task loss overrides; the default is the task kind's (docs/model.md).
    losses=dict(),
    use_cfm=True,
    use_srm=True,
    # No `weighting` here: the plain sum. Top-level configs set e.g.
    # weighting=dict(type="LPS") together with the TaskWeightingHook.
)
