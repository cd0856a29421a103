"""Two gloo processes give the same figures as one."""

import os
import pickle
import socket

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from mtcp.evaluation import MultiTaskMetric

META = dict(classes=["wall", "floor", "bed", "sofa"], part_classes=["bg", "head"])
BASELINES = dict(semseg=50.0, depth=1.0, normals=20.0, saliency=80.0, parts=40.0)


def _samples(num):
    generator = torch.Generator().manual_seed(0)
    samples = []
    for i in range(num):
        normals = torch.randn(3, 8, 10, generator=generator)
        samples.append(
            dict(
                img_path=f"img_{i}.png",
                gt_sem_seg=dict(
                    data=torch.randint(0, 3, (1, 8, 10), generator=generator)
                ),
                pred_sem_seg=dict(
                    data=torch.randint(0, 4, (1, 8, 10), generator=generator)
                ),
                gt_parts=dict(
                    data=torch.randint(0, 2, (1, 8, 10), generator=generator)
                ),
                pred_parts=dict(
                    data=torch.randint(0, 2, (1, 8, 10), generator=generator)
                ),
                gt_depth=dict(data=torch.rand(1, 8, 10, generator=generator) * 5),
                pred_depth=dict(data=torch.rand(1, 8, 10, generator=generator) * 5),
                gt_normals=dict(data=normals),
                pred_normals=dict(
                    data=normals + torch.randn(3, 8, 10, generator=generator)
                ),
                gt_saliency=dict(
                    data=torch.randint(0, 2, (1, 8, 10), generator=generator)
                ),
                pred_saliency=dict(data=torch.rand(1, 8, 10, generator=generator)),
            )
        )
    return samples


def _evaluate(samples, size):
    metric = MultiTaskMetric(baselines=BASELINES)
    metric.dataset_meta = META
    metric.process({}, samples)
    return metric.evaluate(size)


def _worker(rank, world_size, port, samples, out_file):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch_dist.init_process_group("gloo", rank=rank, world_size=world_size)
    # mmengine's DefaultSampler: rank r takes samples r, r + 2, ...; the
    # shorter rank repeats the first sample, which `evaluate(size)` drops
    shard = samples[rank::world_size]
    if len(shard) < -(-len(samples) // world_size):
        shard = shard + samples[:1]
    results = _evaluate(shard, len(samples))
    if rank == 0:
        with open(out_file, "wb") as f:
            pickle.dump(results, f)
    torch_dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    samples = _samples(5)
    expected = _evaluate(samples, len(samples))
    out_file = str(tmp_path / "results.pkl")
    # fork: the children inherit the imported modules instead of importing
    # mmseg again, which takes most of a spawn's time
    mp.start_processes(
        _worker,
        args=(2, _free_port(), samples, out_file),
        nprocs=2,
        start_method="fork",
    )
    with open(out_file, "rb") as f:
        results = pickle.load(f)
    assert "multitask/delta_m" in expected
    assert results.keys() == expected.keys()
    assert results == pytest.approx(expected, rel=1e-12)
    # the padded duplicate must not count: evaluating it changes the figures
    assert _evaluate(samples + samples[:1], 6) != pytest.approx(expected)
