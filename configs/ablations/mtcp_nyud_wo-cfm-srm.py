# Ablation: MT-CP on NYUD-v2 without both CFM and SRM.
_base_ = "../mtcp_nyud.py"

model = dict(use_cfm=False, use_srm=False)
