# Runtime shared by every mtcp config: registry scope, environment, logging,
# checkpoints and the multi-task visualizer. The schedule (loops, optimizer)
# lives in schedules/.
default_scope = "mmseg"
custom_imports = dict(imports=["mtcp"], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
    # timeout: seconds a collective waits for a hung process before failing
    dist_cfg=dict(backend="nccl", timeout=1800),
)

vis_backends = [dict(type="LocalVisBackend")]
visualizer = dict(
    type="MultiTaskVisualizer", vis_backends=vis_backends, name="visualizer"
)
# training log lines group the loss terms by task (every term still goes to
# vis_data/scalars.json and the visualizer backends)
log_processor = dict(type="MultiTaskLogProcessor", by_epoch=True)
log_level = "INFO"

default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type="ParamSchedulerHook"),
    # mmengine's CheckpointHook, writing atomically (see docs/tools.md)
    checkpoint=dict(
        type="AtomicCheckpointHook", by_epoch=True, interval=1, max_keep_ckpts=3
    ),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    # seeds each training iteration from (seed, iteration): resumable runs
    iter_seed=dict(type="IterSeedHook"),
    visualization=dict(type="MultiTaskVisualizationHook"),
    # on SIGTERM/SIGUSR1: finish the iteration, write iter_<N>.pth, exit 75
    preemption=dict(type="PreemptionHook", signals=("SIGTERM", "SIGUSR1")),
    # a NaN/inf loss stops training before the step (max_skips: skip instead)
    non_finite_loss=dict(type="NonFiniteLossHook", max_skips=0),
    # implausible labels (depth in mm) of the first training items: an error
    label_check=dict(type="LabelCheckHook", num_samples=4, error=True),
)

# Test-time augmentation (tools/test.py --tta): the views of the dataset
# config's tta_pipeline, merged per task by MultiTaskTTAModel.
tta_model = dict(type="MultiTaskTTAModel")

load_from = None
resume = False
