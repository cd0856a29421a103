# MT-CP on Cityscapes: semseg (19 classes) + depth (metres, from disparity),
# 512x1024 crops of images rescaled by 0.5-2.0, batch 2 per GPU, Mask2Former
# Swin-S (ADE20K) backbone, LPS weighting, 100 epochs.
# Batch 2 of 512x1024 crops is what one GPU holds: with activation
# checkpointing (below) the NYUD model peaks at 7.2 GiB (CPU RSS) for batch 2
# of 448x576 crops with three tasks (docs/benchmarks.md); 512x1024 has 2.0x
# the pixels and two tasks, an estimate of about 10-14 GiB, NOT measured yet.
# Measure it on your GPU before a long run:
#   python tools/analysis_tools/benchmark.py configs/mtcp_cityscapes.py \
#       --input-size 512 1024 --batch-size 2 --device cuda
# and halve the crop (256x512) if it does not fit. Then
#   bash tools/dist_train.sh configs/mtcp_cityscapes.py 8
_base_ = [
    "_base_/models/mtcp.py",
    "_base_/datasets/cityscapes.py",
    "_base_/default_runtime.py",
    "_base_/schedules/schedule_100e.py",
]

# mmseg's Mask2Former Swin-S ADE20K checkpoint, by URL as in mtcp_nyud.py.
pretrained = "https://download.openmmlab.com/mmsegmentation/v0.5/mask2former/mask2former_swin-s_8xb2-160k_ade20k-512x512/mask2former_swin-s_8xb2-160k_ade20k-512x512_20221204_143905-e715144e.pth"

model = dict(
    tasks={{_base_.tasks}},
    num_classes=dict(semseg=19),
    backbone=dict(
        init_cfg=dict(type="Pretrained", checkpoint=pretrained),
        backbone=dict(with_cp=True),
    ),
    decoder=dict(with_cp=True),
    # Outdoor scenes: depth heads start at a typical street distance.
    head_bias_init=dict(depth=10.0),
    weighting=dict(
        type="LPS", mode="lps", history_length=1, spread=2.5, min_weight=0.05
    ),
)
custom_hooks = [dict(type="TaskWeightingHook")]
default_hooks = dict(
    checkpoint=dict(save_best="semseg/mIoU", rule="greater", max_keep_ckpts=2)
)
