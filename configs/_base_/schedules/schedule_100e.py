# The training recipe of the paper's public reference code (the paper gives
# none): AdamW, poly decay with power 0.9 over 100 epochs, updated every
# iteration.
max_epochs = 100

# fused=True: PyTorch's one-kernel AdamW (CPU and CUDA), the same update as
# the default implementation in a quarter of its time (docs/benchmarks.md).
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(
        type="AdamW", lr=5e-5, betas=(0.9, 0.999), weight_decay=1e-4, fused=True
    ),
)
param_scheduler = [
    dict(
        type="PolyLR",
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True,
    )
]

# The learning rate above is for 1 GPU x 2 images. `tools/train.py
# --auto-scale-lr` (or enable=True here) scales it linearly to the real total
# batch (GPUs x train_dataloader.batch_size), as mmengine's Runner does.
auto_scale_lr = dict(enable=False, base_batch_size=2)

train_cfg = dict(
    type="ResumableEpochBasedTrainLoop", max_epochs=max_epochs, val_interval=10
)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
