# Ablation: MT-CP on NYUD-v2 without the Spatial Refinement Module (trace-back).
_base_ = "../mtcp_nyud.py"

model = dict(use_srm=False)
