# MT-CP on NYUD-v2: semseg (40 classes) + depth + normals, 448x576 crops,
# Mask2Former Swin-S (ADE20K) backbone, LPS weighting, 100 epochs of batch 2.
# The backbone checkpoint is downloaded on first use (see `pretrained`), then
#   bash tools/dist_train.sh configs/mtcp_nyud.py 8
_base_ = [
    "_base_/models/mtcp.py",
    "_base_/datasets/nyud.py",
    "_base_/default_runtime.py",
    "_base_/schedules/schedule_100e.py",
]

# mmseg's Mask2Former Swin-S ADE20K checkpoint, by URL as in mmseg's configs:
# mmengine downloads it once to its cache (~/.cache/torch/hub/checkpoints).
# Offline, put the file there or set a local path here.
pretrained = "https://download.openmmlab.com/mmsegmentation/v0.5/mask2former/mask2former_swin-s_8xb2-160k_ade20k-512x512/mask2former_swin-s_8xb2-160k_ade20k-512x512_20221204_143905-e715144e.pth"
# Learning-rate multiplier of the shared backbone (1.0: fine-tuned at the base lr).
backbone_lr_mult = 1.0

model = dict(
    tasks={{_base_.tasks}},
    num_classes=dict(semseg=40),
    # Activation checkpointing (the backward recomputes, the maths is the
    # same) in every block that holds large activations: Swin, the pixel
    # decoder's encoder layers, the transformer decoder, the task decoders,
    # the CFMs (all but their attention), SRMs, heads and the losses at label
    # size. The policy per block and its cost: docs/benchmarks.md. On a GPU
    # with memory to spare, switch them off for speed (benchmark.py --no-cp).
    backbone=dict(
        init_cfg=dict(type="Pretrained", checkpoint=pretrained),
        backbone=dict(with_cp=True),
        pixel_decoder_with_cp="layers",
        transformer_decoder_with_cp=True,
    ),
    decoder=dict(with_cp=True),
    cfm=dict(with_cp=True),
    srm=dict(with_cp=True),
    head=dict(with_cp=True),
    loss_with_cp=True,
    weighting=dict(
        type="LPS", mode="lps", history_length=1, spread=2.5, min_weight=0.05
    ),
)
custom_hooks = [dict(type="TaskWeightingHook")]

# CPU training only: `--cfg-options env_cfg.malloc_mmap_threshold=16777216`
# returns freed large tensors to the system (mtcp/utils/malloc.py). Measured
# at 448x576 (docs/benchmarks.md): batch 1, peak 4.94 instead of 5.04 GiB at
# the same speed; batch 2, 5.32 instead of 7.13 GiB but an 18 % slower step,
# so glibc's defaults are kept here. No effect on GPU memory.

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={"backbone": dict(lr_mult=backbone_lr_mult)})
)

# Delta_m against the single-task baselines the paper reports (replace them
# with your own single-task results from configs/single_task/).
val_evaluator = dict(baselines=dict(semseg=53.20, depth=0.4923, normals=19.22))
test_evaluator = val_evaluator
default_hooks = dict(
    checkpoint=dict(save_best="multitask/delta_m", rule="greater", max_keep_ckpts=2)
)
