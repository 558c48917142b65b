"""Two processes on gloo, with the environment torchrun gives each rank, and scripted sensors (see ddp_worker.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.waiting import DEADLINE_S

from powertrain.integrations.distributed import Ranks, claim_sensors, sensor_identity
from powertrain.meters.testing import ScriptedCounterSensor

WORKER = Path(__file__).parents[2] / "support" / "ddp_worker.py"


def test_two_ranks_count_each_device_once_and_agree(tmp_path):
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_WORLD_SIZE": "2",  # the ranks meet through a FileStore in tmp_path: no port to pick (ddp_worker.py)
            "OMP_NUM_THREADS": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    printed = []
    for proc in procs:
        out, err = proc.communicate(timeout=DEADLINE_S)
        assert proc.returncode == 0, err.decode()[-2000:]
        printed.append(out.decode().splitlines())

    names = ("one-node", "two-nodes")
    seen = {(n, r): json.loads((tmp_path / f"{n}-seen-rank{r}.json").read_text()) for n in names for r in (0, 1)}
    # One node: CPU package 100 W and the shared GPU 50 W once, plus each rank's own GPU (200 W, 300 W).
    one = seen[("one-node", 0)]
    assert [e for _, e, _ in one["steps"]] == [650.0] * 4  # each 1 s step, summed over ranks by all_reduce
    assert [e["epoch_energy_j"] for e in one["epochs"]] == [1950.0, 1950.0]  # 2 x 1.5 s per epoch
    summary = one["summary"]
    assert summary["world_size"] == 2 and summary["energy_j"] == 3900.0
    by_device = summary["energy_by_device_j"]
    assert sorted(by_device.values()) == [300.0, 600.0, 1200.0, 1800.0]
    owners = {row["identity"]: row["rank"] for row in summary["sensors"]}
    assert owners == {"cpu:package-0": 0, "GPU-shared": 0, "GPU-own-0": 0, "GPU-own-1": 1}
    assert summary["target"]["energy_to_target_j"] == 3900.0 and summary["target"]["epochs_to_target"] == 2
    # Two nodes: each node's CPU package and "shared" GPU are different hardware, so both count.
    two = seen[("two-nodes", 1)]["summary"]
    assert two["energy_j"] == 2 * 2 * 3 * (100 + 50) + 2 * 3 * (200 + 300)
    # Every rank computed the same figures; only rank 0 wrote the summary file.
    for name in ("one-node", "two-nodes"):
        assert seen[(name, 0)]["epochs"] == seen[(name, 1)]["epochs"]
        assert (tmp_path / f"{name}-summary-rank0.json").exists()
        assert not (tmp_path / f"{name}-summary-rank1.json").exists()
        written = json.loads((tmp_path / f"{name}-summary-rank0.json").read_text())
        assert written["energy_j"] == seen[(name, 0)]["summary"]["energy_j"]

    # Attributed by process: every rank reads its half of the CPU package, the halves add up to it once; the GPUs
    # are claimed once per device as before, so the job's figure is the one-node figure.
    attributed = json.loads((tmp_path / "attributed-seen-rank0.json").read_text())["summary"]
    assert attributed["energy_j"] == 3900.0 and attributed["machine_total_j"] == 3900.0
    assert attributed["unattributed_j"] == 0.0 and attributed["attribution"]["scope"] == "process"
    cpu = [j for device, j in attributed["energy_by_device_j"].items() if device.endswith("cpu:package-0")]
    assert cpu == [600.0]  # 100 W x 6 s, from two ranks' 300 J each
    assert {row["identity"] for row in attributed["sensors"]} >= {"cpu:package-0", "GPU-shared"}

    # examples/torchrun_energy.py, with the sensors it finds here (RAPL or the CPU estimate; no GPU): every rank
    # proposes the same CPU sensors, rank 0 alone reads them, and both ranks print the same job-wide epoch figures.
    example = json.loads((tmp_path / "example-summary.json").read_text())
    # real sensors: the figure is this machine's (an estimate can read 0 J for so short a job), so only that it ran
    assert example["status"] == "completed" and example["world_size"] == 2 and example["energy_j"] >= 0
    rows = example["sensors"]
    assert rows and len({row["identity"] for row in rows}) == len(rows) == len(example["energy_by_device_j"])
    assert {row["rank"] for row in rows} == {0}  # one host: the lowest rank owns every CPU zone
    assert set(example["energy_by_component_j"]) <= {"cpu", "dram"}
    epoch_lines = [
        [line.split(": ", 1)[1] for line in lines if line.startswith(f"rank {r} epoch 1: ")]
        for r, lines in enumerate(printed)
    ]
    assert len(epoch_lines[0]) == 1 and epoch_lines[0] == epoch_lines[1]


def test_identity_of_a_gpu_is_not_its_visible_index():
    # Two ranks with different CUDA_VISIBLE_DEVICES both call their card gpu:0; NVML's index tells them apart.
    a, b = ScriptedCounterSensor([0.0], device="gpu:0"), ScriptedCounterSensor([0.0], device="gpu:0")
    a.nvml_index, b.nvml_index = 0, 3
    assert sensor_identity(a) != sensor_identity(b)
    cpu = ScriptedCounterSensor([0.0], device="cpu:package-0", component="cpu")
    assert sensor_identity(cpu) == "cpu:package-0"
    claim = claim_sensors([a, cpu], host_id="node-a", job=Ranks())
    assert claim.owned == [a, cpu] and claim.dropped == []
