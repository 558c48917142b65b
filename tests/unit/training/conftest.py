import pytest

from powertrain.training import TrainConfig


@pytest.fixture
def small_config(tmp_path):
    def make(**changes):
        base = TrainConfig(
            dataset="synthetic", model="mlp", epochs=2, batch_size=32, lr=0.05, device="cpu",
            dataset_options={"num_classes": 4, "train_size": 256, "test_size": 128},
            image_size=8, channels=1,
            estimate_batch_size=64, out=str(tmp_path / "run"), meter_interval_s=0.02,
        )  # fmt: skip
        return base.replace(**changes)

    return make
