# Ablation of the loss prioritisation scheme (paper Table 4): mode 'log'.
# equal: plain sum; log: log(1 + l) projection only; prioritize: the period
# re-weighting on raw losses; lps (the main config): both.
_base_ = "../mtcp_nyud.py"

model = dict(weighting=dict(mode="log"))
