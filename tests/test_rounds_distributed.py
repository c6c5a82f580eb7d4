"""Two CPU processes (gloo) run a round and get the single-process result: sharded registration, DDP regressor."""

from __future__ import annotations

import os
import shutil
import socket

import numpy as np
import pytest
import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

from deformlearn.core.distributed import DistContext
from deformlearn.core.project.store import Project
from deformlearn.core.regressor.training import load_regressor
from deformlearn.core.rounds.loop import run_round
from tests.round_project import make_round_project
from tests.test_rounds import tiny_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    tdist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        with Project.open(path) as project:
            run_round(project, tiny_settings(), dist=DistContext(rank, world, True))
    finally:
        tdist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_match_a_single_process(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    make_round_project(single, n=12).close()
    shutil.copytree(single, multi)
    torch.set_num_threads(1)
    with Project.open(single) as project:
        run_round(project, tiny_settings())
    mp.spawn(_rank_main, args=(2, _free_port(), str(multi)), nprocs=2, join=True)

    with Project.open(single) as a, Project.open(multi) as b:
        ra, rb = a.rounds()[0], b.rounds()[0]
        assert rb.finished_at is not None and set(rb.stages.values()) == {"done"}
        fa, fb = {f.person_id: f for f in a.fits(1)}, {f.person_id: f for f in b.fits(1)}
        assert sorted(fa) == sorted(fb) and len(fa) == 12
        for pid in fa:  # each person's fit does not depend on who shared its batch
            for key in ("pose", "scales", "rotation", "translation"):
                np.testing.assert_allclose(fa[pid].params[key], fb[pid].params[key], atol=2e-3, err_msg=key)
        np.testing.assert_array_equal(a.read_array("rounds/round_001/regressor_ids"),
                                      b.read_array("rounds/round_001/regressor_ids"))
        wa = load_regressor(single / ra.models["regressor"]).state_dict()
        wb = load_regressor(multi / rb.models["regressor"]).state_dict()
        # DDP over 2 ranks = the same batches and mean gradients as one process, up to float summation order
        # (which Adam's normalised steps can lift to ~lr on weights whose gradients are near zero)
        for name in wa:
            torch.testing.assert_close(wa[name], wb[name], atol=1e-2, rtol=1e-3, msg=name)
        assert abs(ra.metrics["regressor_mpjpe_mm"] - rb.metrics["regressor_mpjpe_mm"]) < 0.1
