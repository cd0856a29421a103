import json
import os
import socket

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from weighting_helpers import state_summary

from mtcp.models.weighting import LPS

# Per rank, per period, two iterations of (semseg, depth) losses, already in
# the projected scale (the raw losses fed are expm1 of these).
RANK_LOSSES = {
    0: [[(1.3, 0.3), (1.1, 0.5)], [(0.2, 0.6), (0.4, 0.4)]],
    1: [[(0.7, 0.5), (0.9, 0.7)], [(0.5, 0.2), (0.5, 0.4)]],
}
# Means over both ranks: P1 [1.0, 0.5], P2 [0.4, 0.4] -> shares [2/3, 1/3]
# and [1/2, 1/2], ratios [3/4, 3/2], mean 9/8; spread 1 keeps them;
# rescaled to sum 2 by 2 / (9/4): [2/3, 4/3].
EXPECTED = [2 / 3, 4 / 3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_rank(rank: int, world_size: int, port: int, out_dir: str) -> None:
    torch_dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
    )
    try:
        weighting = LPS(["semseg", "depth"], spread=1.0)
        weighting.train()
        logged = []
        for period in RANK_LOSSES[rank]:
            for semseg, depth in period:
                weighting(
                    {
                        "semseg.loss": torch.tensor(semseg).expm1(),
                        "depth.loss": torch.tensor(depth).expm1(),
                    }
                )
            logged.append(weighting.end_period())
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(dict(state=state_summary(weighting), logged=logged), f)
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.skipif(not torch_dist.is_available(), reason="needs torch.distributed")
def test_two_ranks_with_different_losses_get_identical_weights(tmp_path):
    # fork: the children reuse the imported modules instead of importing
    # mmseg again.
    mp.start_processes(
        run_rank,
        args=(2, free_port(), str(tmp_path)),
        nprocs=2,
        start_method="fork",
    )
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert results[0] == results[1]
    state = results[0]["state"]
    assert state["weights"] == pytest.approx(EXPECTED, rel=1e-6)
    first, second = state["history"]
    assert first == pytest.approx([1.0, 0.5], rel=1e-6)
    assert second == pytest.approx([0.4, 0.4], rel=1e-6)
    assert results[0]["logged"][1]["weight/depth"] == pytest.approx(4 / 3, rel=1e-6)
