# MT-CP on your own data in folders (docs/data.md, "Train on your own data"):
# the tiny model, 20 iterations on a CPU, one validation. For real training
# use _base_/models/mtcp.py with a pretrained backbone (see mtcp_nyud.py).
_base_ = ["../_base_/models/mtcp_tiny.py", "../_base_/default_runtime.py"]
tasks = ["semseg", "depth", "normals"]
classes = ("wall", "floor", "ceiling", "box", "ball")
dataset = dict(
    type="MultiTaskFolderDataset",
    data_root="data/my_robot",
    tasks=tasks,
    task_folders=dict(depth=dict(folder="depth", suffix=".png", scale=1000.0)),
    allow_missing_labels=True,  # some images have no depth map
    metainfo=dict(classes=classes),
)
load = [dict(type="LoadImageFromFile"), dict(type="LoadMultiTaskAnnotations")]
train_pipeline = load + [
    dict(type="MultiTaskRandomFlip", prob=0.5),
    dict(type="PackMultiTaskInputs"),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(dataset, split_file="splits/train.txt", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        dataset,
        split_file="splits/val.txt",
        test_mode=True,
        pipeline=load + [dict(type="PackMultiTaskInputs")],
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="MultiTaskMetric", tasks=tasks)
test_evaluator = val_evaluator

model = dict(
    tasks=tasks,
    num_classes=dict(semseg=len(classes)),
    weighting=dict(type="LPS"),
)
custom_hooks = [dict(type="TaskWeightingHook", interval=5)]
optim_wrapper = dict(
    type="OptimWrapper", optimizer=dict(type="AdamW", lr=2e-3, weight_decay=1e-4)
)
train_cfg = dict(type="IterBasedTrainLoop", max_iters=20, val_interval=20)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    logger=dict(interval=5, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=20),
)
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
