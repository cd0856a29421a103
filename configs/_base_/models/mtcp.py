"""The MT-CP model at paper size (SPEC sections 1-5).

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
        # mmseg's mask2former_swin-s_8xb2-160k_ade20k-512x512.py backbone and head
        backbone=dict(
            type="SwinTransformer",
            embed_dims=96,
            depths=[2, 2, 18, 2],
            num_heads=[3, 6, 12, 24],
            window_size=7,
            mlp_ratio=4,
            qkv_bias=True,
            qk_scale=None,
            drop_rate=0.0,
            attn_drop_rate=0.0,
            drop_path_rate=0.3,
            patch_norm=True,
            out_indices=(0, 1, 2, 3),
            with_cp=False,
            frozen_stages=-1,
            init_cfg=None,
        ),
        decode_head=dict(
            type="Mask2FormerHead",
            in_channels=[96, 192, 384, 768],
            strides=[4, 8, 16, 32],
            feat_channels=256,
            out_channels=256,
            num_classes=150,
            num_queries=100,
            num_transformer_feat_level=3,
            align_corners=False,
            pixel_decoder=dict(
                type="mmdet.MSDeformAttnPixelDecoder",
                num_outs=3,
                norm_cfg=dict(type="GN", num_groups=32),
                act_cfg=dict(type="ReLU"),
                encoder=dict(
                    num_layers=6,
                    layer_cfg=dict(
                        self_attn_cfg=dict(
                            embed_dims=256,
                            num_heads=8,
                            num_levels=3,
                            num_points=4,
                            im2col_step=64,
                            dropout=0.0,
                            batch_first=True,
                            norm_cfg=None,
                            init_cfg=None,
                        ),
                        ffn_cfg=dict(
                            embed_dims=256,
                            feedforward_channels=1024,
                            num_fcs=2,
                            ffn_drop=0.0,
                            act_cfg=dict(type="ReLU", inplace=True),
                        ),
                    ),
                    init_cfg=None,
                ),
                positional_encoding=dict(num_feats=128, normalize=True),
                init_cfg=None,
            ),
            enforce_decoder_input_project=False,
            positional_encoding=dict(num_feats=128, normalize=True),
            transformer_decoder=dict(
                return_intermediate=True,
                num_layers=9,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=256,
                        num_heads=8,
                        attn_drop=0.0,
                        proj_drop=0.0,
                        dropout_layer=None,
                        batch_first=True,
                    ),
                    cross_attn_cfg=dict(
                        embed_dims=256,
                        num_heads=8,
                        attn_drop=0.0,
                        proj_drop=0.0,
                        dropout_layer=None,
                        batch_first=True,
                    ),
                    ffn_cfg=dict(
                        embed_dims=256,
                        feedforward_channels=2048,
                        num_fcs=2,
                        act_cfg=dict(type="ReLU", inplace=True),
                        ffn_drop=0.0,
                        dropout_layer=None,
                        add_identity=True,
                    ),
                ),
                init_cfg=None,
            ),
            loss_cls=dict(
                type="mmdet.CrossEntropyLoss",
                use_sigmoid=False,
                loss_weight=2.0,
                reduction="mean",
                class_weight=[1.0] * 150 + [0.1],
            ),
            loss_mask=dict(
                type="mmdet.CrossEntropyLoss",
                use_sigmoid=True,
                reduction="mean",
                loss_weight=5.0,
            ),
            loss_dice=dict(
                type="mmdet.DiceLoss",
                use_sigmoid=True,
                activate=True,
                reduction="mean",
                naive_dice=True,
                eps=1.0,
                loss_weight=5.0,
            ),
            train_cfg=dict(
                num_points=12544,
                oversample_ratio=3.0,
                importance_sample_ratio=0.75,
                assigner=dict(
                    type="mmdet.HungarianAssigner",
                    match_costs=[
                        dict(type="mmdet.ClassificationCost", weight=2.0),
                        dict(
                            type="mmdet.CrossEntropyLossCost",
                            weight=5.0,
                            use_sigmoid=True,
                        ),
                        dict(type="mmdet.DiceCost", weight=5.0, pred_act=True, eps=1.0),
                    ],
                ),
                sampler=dict(type="mmdet.MaskPseudoSampler"),
            ),
        ),
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
    # Per-task loss overrides; the defaults are MTCP's DEFAULT_LOSSES.
    losses=dict(),
    use_cfm=True,
    use_srm=True,
    # No `weighting` here: the plain sum. Top-level configs set e.g.
    # weighting=dict(type="LPS") together with the TaskWeightingHook.
    test_cfg=dict(flip=False),
)
