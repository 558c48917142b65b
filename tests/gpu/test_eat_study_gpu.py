"""A tiny EAT study on CUDA with the real sensors: inference energy comes from NVML's energy counter."""

import json

import pytest

from powertrain.study import EatStudyConfig, run_eat_study

pytestmark = pytest.mark.gpu


def test_tiny_study_on_cuda_measures_inference_with_the_nvml_counter(tmp_path):
    config = EatStudyConfig.from_dict(
        {
            "train": {
                "dataset": "synthetic", "epochs": 1, "batch_size": 128, "lr": 0.05, "device": "cuda",
                "image_size": 32, "channels": 3, "amp": "bf16",
                "dataset_options": {"num_classes": 10, "train_size": 1024, "test_size": 512},
            },
            "models": ["lenet5"],
            "settings": [{"sigma": 1e-4, "lambda": 2.0}],
            "estimate_batch_size": 256,
            "inference_energy": {"batch_size": 256, "min_seconds": 1.0, "rounds": 2},
            "out": str(tmp_path / "study"),
        }
    )  # fmt: skip
    result = run_eat_study(config)  # sensors discovered: NVML energy counter on the GPU
    rows = result.tables["lenet5"].rows
    assert [r.setting for r in rows] == ["standard", "sigma1e-4_lambda2"]
    for row in rows:
        inference = row.inference
        assert inference["source"] == "counter" and inference["component"].startswith("gpu:")
        assert inference["rounds"] == 2 and inference["j_per_1k_images"] > 0
        assert 5 < inference["avg_power_w"] < 2000  # a GPU's power, in watts
        assert row.energy_ratio is not None and row.inference_diff_pct is not None or row.setting == "standard"
        assert "counter" in row.train_energy_source
    for record in result.records:
        assert all(m.duration_s >= 1.0 for m in record.inference)
    saved = json.loads(result.results_json.read_text())
    assert saved["hardware"]["gpu_count"] >= 1 and saved["complete"]
