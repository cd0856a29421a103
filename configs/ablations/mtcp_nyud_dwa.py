# Baseline weighting: Dynamic Weight Average (Liu et al., 2019), temperature 2,
# updated once an epoch.
_base_ = "../mtcp_nyud.py"

model = dict(weighting=dict(_delete_=True, type="DWA", temperature=2.0))
