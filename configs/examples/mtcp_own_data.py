# docs/data.md, "Train on your own data": the tiny MT-CP on data in folders,
# 20 iterations on a CPU, then one validation.
_base_ = [
    "../_base_/models/mtcp_tiny.py",
    "../_base_/datasets/multitask_folder.py",
    "../_base_/default_runtime.py",
]
tasks = ["semseg", "depth", "normals"]
classes = ("wall", "floor", "ceiling", "box", "ball")
data = dict(
    data_root="data/my_robot",
    tasks=tasks,
    task_folders=dict(depth=dict(suffix=".png", scale=1000.0)),  # millimetres
    allow_missing_labels=True,  # some images have no depth map
    metainfo=dict(classes=classes),
)
train_dataloader = dict(dataset=data)
val_dataloader = dict(dataset=data)
test_dataloader = val_dataloader
val_evaluator = dict(type="MultiTaskMetric", tasks=tasks)
test_evaluator = val_evaluator

model = dict(
    tasks=tasks, num_classes=dict(semseg=len(classes)), weighting=dict(type="LPS")
)
custom_hooks = [dict(type="TaskWeightingHook", interval=5)]
optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=2e-3))
train_cfg = dict(type="IterBasedTrainLoop", max_iters=20, val_interval=20)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(by_epoch=False, interval=20)
)
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
