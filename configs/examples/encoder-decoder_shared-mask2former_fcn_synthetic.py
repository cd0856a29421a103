# A plain mmseg model that reuses mtcp's registered modules: mmseg's
# EncoderDecoder with mtcp's SharedMask2Former (tiny, F = E * sum_q sigmoid(M_q))
# as its backbone and mmseg's FCNHead on top, trained with mmseg's own
# data preprocessor and IoUMetric on the synthetic scenes (semseg only).
#   python tools/train.py configs/examples/encoder-decoder_shared-mask2former_fcn_synthetic.py
_base_ = ["../_base_/datasets/synthetic_scenes.py"]
default_scope = "mmseg"
custom_imports = dict(imports=["mtcp"], allow_failed_imports=False)

num_classes = 5
model = dict(
    type="EncoderDecoder",
    data_preprocessor=dict(
        type="SegDataPreProcessor",
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size_divisor=32,
    ),
    backbone=dict(type="SharedMask2Former", arch="tiny", return_tuple=True),
    decode_head=dict(
        type="FCNHead",
        in_channels=32,
        in_index=0,
        channels=32,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.0,
        num_classes=num_classes,
        norm_cfg=dict(type="BN", requires_grad=True),
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)

tasks = ["semseg"]
train_dataloader = dict(dataset=dict(tasks=tasks))
val_dataloader = dict(dataset=dict(tasks=tasks))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type="IoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator

optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=2e-3, betas=(0.9, 0.999), weight_decay=1e-4),
)
param_scheduler = [
    dict(type="PolyLR", power=0.9, eta_min=0.0, begin=0, end=400, by_epoch=False)
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=400, val_interval=400)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
# tools/test.py --tta: mmseg's own TTA model on the synthetic tta_pipeline
tta_model = dict(type="SegTTAModel")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=400),
    sampler_seed=dict(type="DistSamplerSeedHook"),
)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend="nccl"))
log_processor = dict(by_epoch=False)
