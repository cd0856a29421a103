# Your own data in folders (MultiTaskFolderDataset, see docs/data.md): the
# images as they are, random flips for training; splits/train.txt and
# splits/val.txt under data_root. A config sets data_root, tasks, the
# task_folders of its formats and metainfo (class names) in both loaders.
dataset_type = "MultiTaskFolderDataset"
load = [dict(type="LoadImageFromFile"), dict(type="LoadMultiTaskAnnotations")]
train_pipeline = load + [
    dict(type="MultiTaskRandomFlip", prob=0.5),
    dict(type="PackMultiTaskInputs"),
]
test_pipeline = load + [dict(type="PackMultiTaskInputs")]
# Test-time augmentation (tools/test.py --tta): the image and its mirror; the
# labels are loaded after the flip, so they stay un-flipped for the metric.
tta_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(
        type="TestTimeAug",
        transforms=[
            [
                dict(type="MultiTaskRandomFlip", prob=0.0, direction="horizontal"),
                dict(type="MultiTaskRandomFlip", prob=1.0, direction="horizontal"),
            ],
            [dict(type="LoadMultiTaskAnnotations")],
            [dict(type="PackMultiTaskInputs")],
        ],
    ),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(
        type=dataset_type, split_file="splits/train.txt", pipeline=train_pipeline
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        split_file="splits/val.txt",
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
# every task with a metric that the model predicts
val_evaluator = dict(type="MultiTaskMetric")
test_evaluator = val_evaluator
