# The tiny MT-CP on synthetic indoor scenes (semseg, depth, normals): trains on
# 2 CPU cores in a few minutes, with the LPS weighting, and validates at the end.
#   python tools/train.py configs/mtcp_demo.py
_base_ = [
    "_base_/models/mtcp_tiny.py",
    "_base_/datasets/synthetic_scenes.py",
    "_base_/default_runtime.py",
]

model = dict(
    tasks={{_base_.tasks}},
    num_classes=dict(semseg=5),
    # the synthetic rooms' mean depth (4.5 m over the training scenes): the
    # depth heads start there instead of climbing from NYUD's 2.5 m
    head_bias_init=dict(depth=4.5),
    weighting=dict(type="LPS", mode="lps"),
)

max_epochs = 5
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=2e-3, betas=(0.9, 0.999), weight_decay=1e-4),
)
param_scheduler = [
    dict(
        type="PolyLR",
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True,
    )
]
train_cfg = dict(
    type="ResumableEpochBasedTrainLoop", max_epochs=max_epochs, val_interval=5
)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")

custom_hooks = [dict(type="TaskWeightingHook")]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(
        interval=1, max_keep_ckpts=2, save_best="semseg/mIoU", rule="greater"
    ),
)
randomness = dict(seed=0)
