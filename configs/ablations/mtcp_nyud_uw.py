# Baseline weighting: uncertainty weighting (Kendall et al., 2018), learnable
# per-task log-variances, kept out of weight decay.
_base_ = "../mtcp_nyud.py"

model = dict(weighting=dict(_delete_=True, type="UncertaintyWeighting"))
custom_hooks = []
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={"weighting": dict(decay_mult=0.0, lr_mult=1.0)})
)
