# Ablation: MT-CP on NYUD-v2 without the Coherence Fusion Module.
_base_ = "../mtcp_nyud.py"

model = dict(use_cfm=False)
