# Single-task baseline on PASCAL-Context: surface normals alone (same
# backbone, decoder, SRM and heads; no CFM, as there is no other task). Its
# mean angular error is the normals baseline of Delta_m in
# configs/mtcp_pascal_5task.py.
_base_ = "../mtcp_pascal_5task.py"

tasks = ["normals"]
model = dict(tasks=tasks, weighting=dict(mode="equal"))
custom_hooks = []
train_dataloader = dict(
    dataset=dict(tasks=tasks, pipeline={{_base_.train_pipeline_no_semseg}})
)
val_dataloader = dict(dataset=dict(tasks=tasks))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type="MultiTaskMetric", tasks=tasks)
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best="normals/mean", rule="less"))
