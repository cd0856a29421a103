# Synthetic indoor scenes rendered in memory (no files): the NYUD task set.
# The dataset hands the pipeline rendered arrays, so the pipelines start after
# loading. Train and val use different seeds, i.e. different scenes. Rendering
# takes ~10 ms an image, so the data is made in the main process.
# No random rescaling: the resize transforms divide depth by the scale factor
# (right for scale-free real scenes), but these rooms carry absolute scale
# (camera 1.1-1.6 m high, light falling off with distance), so rescaled
# labels would contradict the image and bias the learnt depth low (the
# median of depth / s over s in [0.75, 1.5] is 0.89 x depth). The scenes
# already vary focal length, camera height, pitch and room size.
dataset_type = "SyntheticScenesDataset"
task_set = "nyud"
tasks = ["semseg", "depth", "normals"]
img_size = (96, 128)

train_pipeline = [
    dict(type="MultiTaskRandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackMultiTaskInputs"),
]
test_pipeline = [dict(type="PackMultiTaskInputs")]
# Test-time augmentation (tools/test.py --tta): the image and its mirror; the
# labels, rendered with the image, are kept out of the flip for the metric.
tta_pipeline = [
    dict(type="KeepLabelsAtOriginal"),
    dict(
        type="TestTimeAug",
        transforms=[
            [
                dict(type="MultiTaskRandomFlip", prob=0.0, direction="horizontal"),
                dict(type="MultiTaskRandomFlip", prob=1.0, direction="horizontal"),
            ],
            [dict(type="PackMultiTaskInputs")],
        ],
    ),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type="SeededSampler", shuffle=True),
    dataset=dict(
        type=dataset_type,
        task_set=task_set,
        tasks=tasks,
        num_samples=320,
        img_size=img_size,
        seed=0,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        task_set=task_set,
        tasks=tasks,
        num_samples=48,
        img_size=img_size,
        seed=1,
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="MultiTaskMetric", tasks=tasks)
test_evaluator = val_evaluator
