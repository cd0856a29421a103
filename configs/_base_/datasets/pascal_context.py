# PASCAL-Context multi-task package (semseg 21 classes, human parts, saliency),
# read as it is distributed (see docs/data.md). Training crops 512x512 from
# images rescaled by 0.5-2.0; testing runs at the original size.
dataset_type = "PascalContextMTDataset"
data_root = "data/PASCAL_MT"
tasks = ["semseg", "parts", "saliency"]
crop_size = (512, 512)

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadMultiTaskAnnotations"),
    dict(type="MultiTaskRandomResize", scale=(512, 512), ratio_range=(0.5, 2.0)),
    dict(type="MultiTaskRandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="MultiTaskRandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="MultiTaskPad", size=crop_size),
    dict(type="PackMultiTaskInputs"),
]
# The crop is re-drawn while one semantic class covers more than 75% of it;
# task sets without semseg (single-task baselines) cannot apply that rule.
train_pipeline_no_semseg = [
    dict(step, cat_max_ratio=1.0) if step["type"] == "MultiTaskRandomCrop" else step
    for step in train_pipeline
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
    sampler=dict(type="SeededSampler", shuffle=True),
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
