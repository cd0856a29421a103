# Single-task baseline on NYUD-v2: boundaries alone (same backbone, decoder,
# SRM and heads; no CFM, as there is no other task). Its odsF is the edge
# baseline of Delta_m in configs/mtcp_nyud_4task.py.
_base_ = "../mtcp_nyud_4task.py"

tasks = ["edge"]
model = dict(tasks=tasks, weighting=dict(mode="equal"))
custom_hooks = []
train_dataloader = dict(
    dataset=dict(tasks=tasks, pipeline={{_base_.train_pipeline_no_semseg}})
)
val_dataloader = dict(dataset=dict(tasks=tasks))
test_dataloader = val_dataloader
# the boundary protocol of the multi-task config, without Delta_m
val_evaluator = dict(tasks=tasks, baselines=None)
test_evaluator = dict(tasks=tasks, baselines=None)
default_hooks = dict(checkpoint=dict(save_best="edge/odsF", rule="greater"))
