# Single-task baseline on NYUD-v2: semseg alone (same backbone,
# decoder, SRM and heads; no CFM, as there is no other task). Its score is
# the semseg baseline of Delta_m.
_base_ = "../mtcp_nyud.py"

tasks = ["semseg"]
model = dict(tasks=tasks, weighting=dict(mode="equal"))
custom_hooks = []
train_dataloader = dict(dataset=dict(tasks=tasks))
val_dataloader = dict(dataset=dict(tasks=tasks))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type="MultiTaskMetric", tasks=tasks)
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best="semseg/mIoU", rule="greater"))
