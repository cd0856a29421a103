# Cityscapes (semseg 19 classes + depth from disparity) in its official layout
# (see docs/data.md). Training: images rescaled by 0.5-2.0 around 1024x512,
# 512x1024 crops, flips, colour jitter. Testing at the original 1024x2048,
# where the metrics are taken.
dataset_type = "CityscapesMTDataset"
data_root = "data/cityscapes"
tasks = ["semseg", "depth"]
crop_size = (512, 1024)

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadMultiTaskAnnotations"),
    dict(type="MultiTaskRandomResize", scale=(2048, 1024), ratio_range=(0.5, 2.0)),
    dict(type="MultiTaskRandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="MultiTaskRandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="MultiTaskPad", size=crop_size),
    dict(type="PackMultiTaskInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadMultiTaskAnnotations"),
    dict(type="PackMultiTaskInputs"),
]
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
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split="train",
        tasks=tasks,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split="val",
        tasks=tasks,
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="MultiTaskMetric", tasks=tasks)
test_evaluator = val_evaluator
