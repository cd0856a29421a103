# Baseline weighting: fixed manual weights (normals up-weighted, as is common
# for NYUD-v2 multi-task training).
_base_ = "../mtcp_nyud.py"

model = dict(
    weighting=dict(
        _delete_=True,
        type="FixedWeights",
        weights=dict(semseg=1.0, depth=1.0, normals=10.0),
    )
)
custom_hooks = []
