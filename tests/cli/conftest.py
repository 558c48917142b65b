import pytest

LONG_RUN = """
dataset: synthetic
model: mlp
epochs: 500
batch_size: 16
lr: 0.01
device: cpu
estimate_batch_size: 0
image_size: 16
channels: 1
dataset_options: {num_classes: 4, train_size: 2048, test_size: 64}
"""


@pytest.fixture
def long_run_config(tmp_path):
    """A YAML config of a CPU run of many short epochs (about 0.3 s each), to kill or interrupt part-way."""
    path = tmp_path / "long-run.yaml"
    path.write_text(LONG_RUN)
    return path
