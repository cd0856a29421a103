# docs/new_task.md: the tiny MT-CP learns semseg, depth and a task of your
# own, albedo (my_tasks/albedo.py), on a folder dataset; 20 iterations on a
# CPU, then one validation.
_base_ = ["../configs/examples/mtcp_own_data.py"]
custom_imports = dict(imports=["mtcp", "my_tasks.albedo"], allow_failed_imports=False)
task_table = dict(albedo=dict(kind="Albedo"))

tasks = ["semseg", "depth", "albedo"]
data = dict(data_root="data/albedo_demo", tasks=tasks, allow_missing_labels=False)
train_dataloader = dict(dataset=data)
val_dataloader = dict(dataset=data)
test_dataloader = val_dataloader
# illustrative single-task scores, for Delta_m
baselines = dict(semseg=40.0, depth=1.0, albedo=10.0)
val_evaluator = dict(type="MultiTaskMetric", tasks=tasks, baselines=baselines)
test_evaluator = val_evaluator
model = dict(tasks=tasks)
