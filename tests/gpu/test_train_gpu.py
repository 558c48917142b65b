"""Training on a real GPU with the real NVML energy counter (run on the GPU machine: pytest -m gpu)."""

import pytest

from powertrain.training import TrainConfig, estimate_run, train

pytestmark = pytest.mark.gpu


def _config(tmp_path, **changes):
    return TrainConfig(
        dataset="synthetic", model="resnet18", epochs=2, batch_size=256, device="cuda", image_size=32, channels=3,
        dataset_options={"num_classes": 10, "train_size": 8192, "test_size": 1024}, estimate_batch_size=512,
        out=str(tmp_path / "run"),
    ).replace(**changes)  # fmt: skip


def test_resnet18_epoch_energy_comes_from_the_nvml_counter(tmp_path):
    result = train(_config(tmp_path))
    energy = result.summary["energy"]
    assert result.status == "completed"
    assert "counter" in energy["sources"] and not energy["failed_sensors"]
    assert any(device.startswith("gpu:") for device in energy["by_device_j"])
    for record in result.history:
        assert record.train_energy_j > 0 and 20 < record.avg_power_w < 1500  # a working GPU draws tens to hundreds of W
    assert result.summary["hardware"]["gpu_count"] >= 1


def test_bf16_autocast_and_eat_train_on_cuda(tmp_path):
    result = train(_config(tmp_path, amp="bf16", eat_lambda=1.0, epochs=1))
    assert result.status == "completed"
    assert 0 < result.history[0].eat_density <= 1
    assert 0 < result.summary["accelerator"]["mean_ratio"] <= 1


def test_estimate_of_a_gpu_run_matches_on_cpu(tmp_path):
    train(_config(tmp_path, epochs=1, estimate_batch_size=0))
    on_gpu = estimate_run(tmp_path / "run", batch_size=512, device="cuda", per_sample=False)
    on_cpu = estimate_run(tmp_path / "run", batch_size=512, device="cpu", per_sample=False)
    # cuDNN may use TF32 for convolutions, so a few activations near zero can flip: agree to 1%
    assert on_gpu.mean_ratio == pytest.approx(on_cpu.mean_ratio, rel=1e-2)
