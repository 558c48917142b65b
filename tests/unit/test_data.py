"""powertrain.data: registry, real on-disk formats (written as fixtures), loaders, augmentation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import (
    write_celeba,
    write_cifar10,
    write_fashion_mnist,
    write_gtsrb,
    write_idx,
    write_imagefolder,
    write_mnist,
)

import powertrain.data._idx as idx_module
from powertrain.data import (
    CELEBA_ATTRIBUTES,
    DatasetBundle,
    Loader,
    list_datasets,
    load_dataset,
    random_crop,
    random_hflip,
    read_idx,
)
from powertrain.errors import ConfigError, DataNotFoundError, UnknownNameError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    """Hide the system's Fashion-MNIST so tests see only their fixtures."""
    monkeypatch.setattr(idx_module, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")


@pytest.fixture
def fmnist(tmp_path, no_debian):
    written = write_fashion_mnist(tmp_path / "fm")
    return tmp_path / "fm", written


def unnormalise(x: torch.Tensor, bundle: DatasetBundle) -> torch.Tensor:
    mean = torch.tensor(bundle.mean).view(1, -1, 1, 1)
    std = torch.tensor(bundle.std).view(1, -1, 1, 1)
    return ((x * std + mean) * 255).round()


def collect(loader: Loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


# --- registry and argument checking -------------------------------------------------------------


def test_registry_lists_every_builtin_dataset():
    assert {"fashion-mnist", "mnist", "cifar10", "gtsrb", "celeba", "imagefolder", "synthetic"} <= set(list_datasets())


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(UnknownNameError, match="fashion-mnist") as err:
        load_dataset("fashion-mnst")
    assert isinstance(err.value, KeyError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subset": -1},
        {"subset": 0},
        {"test_subset": -5},
        {"image_size": 4},
        {"channels": 2},
        {"seed": -1},
        {"crop_padding": -1},
        {"hflip": "yes"},
        {"num_classes": 1},
        {"mean": (0.5, 0.5), "std": (0.2, 0.2)},
    ],
)
def test_bad_option_values_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        load_dataset("synthetic", **kwargs)


def test_unknown_option_and_bad_subset_mode_raise_config_error():
    with pytest.raises(ConfigError, match="colour"):
        load_dataset("synthetic", colour="red")
    with pytest.raises(ConfigError, match="subset_mode"):
        load_dataset("synthetic", subset=4, subset_mode="last")


def test_mean_and_std_options_override_normalisation():
    bundle = load_dataset("synthetic", channels=1, image_size=8, train_size=8, test_size=4, mean=(0.5,), std=(0.25,))
    assert (bundle.mean, bundle.std) == ((0.5,), (0.25,))
    x, _ = bundle.test[0]
    torch.testing.assert_close(x, (bundle.test.images[0].float() / 255 - 0.5) / 0.25)


def test_bad_loader_arguments_raise_config_error():
    bundle = load_dataset("synthetic", train_size=8, test_size=4, image_size=8)
    with pytest.raises(ConfigError):
        bundle.loaders(batch_size=0)
    with pytest.raises(ConfigError):
        bundle.loaders(batch_size=4, workers=-1)


# --- idx files and Fashion-MNIST ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_read_idx_round_trip(tmp_path, name):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, array)), array)
    wide = np.array([1, -2, 70000], dtype=">i4")
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "w.idx", wide)), wide)


def test_read_idx_rejects_garbage_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ConfigError, match="magic"):
        read_idx(tmp_path / "bad")
    good = write_idx(tmp_path / "t", np.zeros((4, 5), dtype=np.uint8)).read_bytes()
    (tmp_path / "short").write_bytes(good[:-3])
    with pytest.raises(ConfigError, match="header"):
        read_idx(tmp_path / "short")


def test_fashion_mnist_from_data_dir(fmnist):
    folder, written = fmnist
    bundle = load_dataset("fashion-mnist", data_dir=folder)
    info = bundle.info
    assert (info.num_classes, info.in_channels, info.image_size) == (10, 1, 28)
    assert (info.train_size, info.test_size) == (120, 40)
    assert info.class_names[0] == "T-shirt/top" and len(info.class_names) == 10
    np.testing.assert_array_equal(bundle.train.images[:, 0].numpy(), written["train_images"])
    np.testing.assert_array_equal(bundle.test.labels.numpy(), written["test_labels"])
    # Normalisation uses the exact statistics of the train split.
    pixels = written["train_images"] / 255.0
    assert bundle.mean[0] == pytest.approx(pixels.mean()) and bundle.std[0] == pytest.approx(pixels.std())


def test_fashion_mnist_torchvision_layout_uncompressed(tmp_path, no_debian):
    written = write_fashion_mnist(tmp_path / "FashionMNIST" / "raw", gz=False, n_train=30, n_test=10)
    bundle = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert bundle.info.train_size == 30
    np.testing.assert_array_equal(bundle.train.labels.numpy(), written["train_labels"])


def test_fashion_mnist_missing_names_the_three_ways_to_get_it(tmp_path, no_debian):
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    message = str(err.value)
    for hint in ("--data-dir", "apt-get install dataset-fashion-mnist", "--download"):
        assert hint in message
    assert isinstance(err.value, FileNotFoundError)


def test_fashion_mnist_falls_back_to_debian_files(monkeypatch, tmp_path):
    write_fashion_mnist(tmp_path / "system", n_train=20, n_test=10)
    monkeypatch.setattr(idx_module, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "system")
    assert load_dataset("fashion-mnist").info.train_size == 20


@pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist():
    bundle = load_dataset("fashion-mnist")
    assert (bundle.info.train_size, bundle.info.test_size) == (60000, 10000)
    assert bundle.train.images.shape == (60000, 1, 28, 28) and bundle.train.images.dtype == torch.uint8
    assert torch.bincount(bundle.train.labels, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(bundle.test.labels, minlength=10).tolist() == [1000] * 10
    assert bundle.mean[0] == pytest.approx(0.2860, abs=1e-3) and bundle.std[0] == pytest.approx(0.3530, abs=1e-3)


# --- torchvision-backed formats -------------------------------------------------------------------


def test_mnist_from_raw_idx_files(tmp_path):
    written = write_mnist(tmp_path)
    bundle = load_dataset("mnist", data_dir=tmp_path)
    assert (bundle.info.train_size, bundle.info.test_size, bundle.info.in_channels) == (100, 30, 1)
    np.testing.assert_array_equal(bundle.train.images[:, 0].numpy(), written["train_images"])
    np.testing.assert_array_equal(bundle.test.labels.numpy(), written["test_labels"])
    assert (bundle.crop_padding, bundle.hflip) == (3, False)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "gtsrb", "celeba"])
def test_missing_torchvision_dataset_says_how_to_get_it(tmp_path, name):
    with pytest.raises(DataNotFoundError, match="--download") as err:
        load_dataset(name, data_dir=tmp_path)
    assert str(tmp_path) in str(err.value)


def test_cifar10_from_python_batches_without_md5(tmp_path):
    written = write_cifar10(tmp_path)
    bundle = load_dataset("cifar10", data_dir=tmp_path)
    info = bundle.info
    assert (info.train_size, info.test_size, info.in_channels, info.image_size) == (100, 30, 3, 32)
    assert info.class_names[:2] == ("airplane", "automobile")
    # Channel planes land in the right place: CHW tensor == HWC array transposed.
    np.testing.assert_array_equal(bundle.train.images.numpy(), written["train_images"].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(bundle.train.labels.numpy(), written["train_labels"])
    assert (bundle.crop_padding, bundle.hflip) == (4, True)


def test_cifar10_to_one_channel_uses_luminance(tmp_path):
    written = write_cifar10(tmp_path)
    bundle = load_dataset("cifar10", data_dir=tmp_path, channels=1)
    rgb = written["test_images"].astype(np.float64)
    luma = np.clip(np.round(rgb @ np.array([0.299, 0.587, 0.114])), 0, 255)
    np.testing.assert_allclose(bundle.test.images[:, 0].numpy(), luma, atol=1)
    _, test = bundle.loaders(batch_size=8)
    assert next(iter(test))[0].shape == (8, 1, 32, 32)


def test_gtsrb_folder_layout(tmp_path):
    written = write_gtsrb(tmp_path)
    bundle = load_dataset("gtsrb", data_dir=tmp_path)
    assert (bundle.info.num_classes, bundle.info.train_size, bundle.info.test_size) == (43, 12, 6)
    assert [bundle.train.raw(i)[1] for i in range(12)] == written["train_labels"]
    assert [bundle.test.raw(i)[1] for i in range(6)] == written["test_labels"]
    assert bundle.train.raw(0)[0].shape == (3, 32, 32)  # varied sizes stretched to 32x32
    assert (bundle.crop_padding, bundle.hflip) == (4, False)  # mirrored signs change meaning
    train, test = bundle.loaders(batch_size=5)
    assert len(train) == 3 and [len(y) for _, y in train] == [5, 5, 2]
    x, y = next(iter(test))
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_celeba_three_bit_class_and_partitions(tmp_path):
    written = write_celeba(tmp_path)
    bundle = load_dataset("celeba", data_dir=tmp_path)
    info = bundle.info
    assert (info.num_classes, info.image_size, info.in_channels) == (8, 64, 3)
    parts = np.array(written["partitions"])
    assert (info.train_size, info.test_size) == ((parts == 0).sum(), (parts == 2).sum())
    columns = [list(written_attr_names()).index(a) for a in CELEBA_ATTRIBUTES]
    bits = (written["attrs"][:, columns] + 1) // 2  # {-1, 1} -> {0, 1}
    expected = bits[:, 0] + 2 * bits[:, 1] + 4 * bits[:, 2]
    assert [bundle.train.raw(i)[1] for i in range(info.train_size)] == expected[parts == 0].tolist()
    assert [bundle.test.raw(i)[1] for i in range(info.test_size)] == expected[parts == 2].tolist()
    assert info.class_names[0] == "none" and info.class_names[7] == "+".join(CELEBA_ATTRIBUTES)
    assert bundle.train.raw(0)[0].shape == (3, 64, 64)
    gray = load_dataset("celeba", data_dir=tmp_path, channels=1, image_size=32, test_split="valid")
    assert gray.train.raw(0)[0].shape == (1, 32, 32) and gray.info.test_size == (parts == 1).sum()


def written_attr_names():
    from data_fixtures import CELEBA_ATTR_NAMES

    return CELEBA_ATTR_NAMES


def test_imagefolder_classes_sizes_and_errors(tmp_path):
    write_imagefolder(tmp_path / "imgs", train={"cat": 3, "dog": 2, "emu": 2}, test={"dog": 2, "emu": 1})
    bundle = load_dataset(f"imagefolder:{tmp_path / 'imgs'}", image_size=16)
    assert bundle.info.name == f"imagefolder:{tmp_path / 'imgs'}"
    assert bundle.info.class_names == ("cat", "dog", "emu") and bundle.info.num_classes == 3
    # Test labels follow the train folder's numbering although test has no "cat".
    assert [bundle.test.raw(i)[1] for i in range(3)] == [1, 1, 2]
    assert all(bundle.train.raw(i)[0].shape == (3, 16, 16) for i in range(7))
    same = load_dataset("imagefolder", data_dir=tmp_path / "imgs", image_size=16)
    assert same.info.name == bundle.info.name
    with pytest.raises(DataNotFoundError):
        load_dataset(f"imagefolder:{tmp_path / 'nothing'}")
    with pytest.raises(ConfigError, match="imagefolder:PATH"):
        load_dataset("imagefolder")
    write_imagefolder(tmp_path / "extra", train={"a": 1}, test={"a": 1, "b": 1})
    with pytest.raises(ConfigError, match="'b'"):
        load_dataset(f"imagefolder:{tmp_path / 'extra'}")
    with pytest.raises(ConfigError):
        bundle.loaders(batch_size=2, on_device=True)


def test_folder_loader_workers_give_the_same_batches(tmp_path):
    write_imagefolder(tmp_path, train={"a": 5, "b": 4}, test={"a": 2, "b": 2})
    bundle = load_dataset(f"imagefolder:{tmp_path}", image_size=8)
    serial, _ = bundle.loaders(batch_size=4, seed=3)
    parallel, _ = bundle.loaders(batch_size=4, seed=3, workers=1)
    for (xa, ya), (xb, yb) in zip(serial, parallel, strict=True):
        torch.testing.assert_close(xa, xb)
        assert torch.equal(ya, yb)


# --- tensor path: normalisation, shuffling, subsets, channels -----------------------------------


def test_tensor_loader_normalises_to_zero_mean_unit_std(fmnist):
    folder, _ = fmnist
    bundle = load_dataset("fashion-mnist", data_dir=folder, channels=3)
    train, _ = bundle.loaders(batch_size=32, augment=False)
    x, y = collect(train)
    assert x.shape == (120, 3, 28, 28) and y.dtype == torch.int64
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])  # grey repeated to 3
    mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    torch.testing.assert_close(mean, torch.zeros(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(std, torch.ones(3), atol=1e-3, rtol=0)
    # Dataset indexing gives the same normalised image as the loader.
    torch.testing.assert_close(bundle.test[3][0], next(iter(bundle.loaders(batch_size=8)[1]))[0][3])


def test_synthetic_is_seeded_balanced_and_learnable():
    a = load_dataset("synthetic", num_classes=4, train_size=400, test_size=200, image_size=12, seed=1)
    b = load_dataset("synthetic", num_classes=4, train_size=400, test_size=200, image_size=12, seed=1)
    c = load_dataset("synthetic", num_classes=4, train_size=400, test_size=200, image_size=12, seed=2)
    assert torch.equal(a.train.images, b.train.images) and not torch.equal(a.train.images, c.train.images)
    assert torch.bincount(a.train.labels).tolist() == [100] * 4
    # A nearest-class-mean classifier fit on train predicts test well above chance (0.25).
    x_tr, x_te = a.train.images.flatten(1).float(), a.test.images.flatten(1).float()
    means = torch.stack([x_tr[a.train.labels == k].mean(0) for k in range(4)])
    accuracy = (torch.cdist(x_te, means).argmin(1) == a.test.labels).float().mean()
    assert accuracy > 0.9
    assert (a.crop_padding, a.hflip) == (0, False)


def test_shuffle_is_a_function_of_seed_and_epoch():
    bundle = load_dataset("synthetic", train_size=50, test_size=10, image_size=8, num_classes=5)
    first, _ = bundle.loaders(batch_size=8, seed=7, augment=False)
    second, _ = bundle.loaders(batch_size=8, seed=7, augment=False)
    other_seed, _ = bundle.loaders(batch_size=8, seed=8, augment=False)
    assert isinstance(first, Loader)
    e0, e1 = collect(first), collect(first)  # iterating advances the epoch
    assert len(first) == math.ceil(50 / 8) and first.num_samples == 50 and first.batch_size == 8
    second.set_epoch(1)
    assert torch.equal(collect(second)[0], e1[0])  # a resumed run sees the same batches
    second.set_epoch(0)
    assert torch.equal(collect(second)[0], e0[0])
    assert not torch.equal(e0[0], e1[0])
    assert not torch.equal(collect(other_seed)[0], e0[0])
    # Each epoch is a permutation of the whole split (drop_last=False).
    raw = unnormalise(e0[0], bundle).to(torch.uint8).flatten(1)
    stored = bundle.train.images.flatten(1)
    assert sorted(map(tuple, raw.tolist())) == sorted(map(tuple, stored.tolist()))


def test_test_loader_keeps_dataset_order_and_never_augments():
    bundle = load_dataset("synthetic", train_size=20, test_size=13, image_size=8, crop_padding=2, hflip=True)
    _, test = bundle.loaders(batch_size=4, eval_batch_size=5)
    assert len(test) == 3 and test.batch_size == 5
    x, y = collect(test)
    assert torch.equal(y, bundle.test.labels)
    assert torch.equal(unnormalise(x, bundle).to(torch.uint8), bundle.test.images)
    assert torch.equal(collect(test)[0], x)


def test_subset_first_random_and_test_subset(fmnist):
    folder, written = fmnist
    first = load_dataset("fashion-mnist", data_dir=folder, subset=10, subset_mode="first", test_subset=5)
    np.testing.assert_array_equal(first.train.labels.numpy(), written["train_labels"][:10])
    assert (first.info.train_size, first.info.test_size) == (10, 5)
    rand_a = load_dataset("fashion-mnist", data_dir=folder, subset=10, seed=1)
    rand_b = load_dataset("fashion-mnist", data_dir=folder, subset=10, seed=1)
    rand_c = load_dataset("fashion-mnist", data_dir=folder, subset=10, seed=2)
    assert torch.equal(rand_a.train.images, rand_b.train.images)
    assert not torch.equal(rand_a.train.images, rand_c.train.images)
    assert not torch.equal(rand_a.train.images, first.train.images)
    # Normalisation does not depend on the subset.
    assert rand_a.mean == first.mean
    assert load_dataset("fashion-mnist", data_dir=folder, subset=10_000).info.train_size == 120


def test_resize_once_up_front(fmnist):
    folder, _ = fmnist
    bundle = load_dataset("fashion-mnist", data_dir=folder, image_size=32)
    assert bundle.train.images.shape == (120, 1, 32, 32) and bundle.train.images.dtype == torch.uint8
    assert bundle.info.image_size == 32 and bundle.crop_padding == 4
    train, _ = bundle.loaders(batch_size=16)
    assert next(iter(train))[0].shape == (16, 1, 32, 32)


def test_on_device_rule(fmnist, monkeypatch):
    folder, _ = fmnist
    bundle = load_dataset("fashion-mnist", data_dir=folder)
    need = bundle.train.nbytes + bundle.test.nbytes
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (need * 5, need * 10))
    assert bundle._fits_on(cuda, None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (need * 3, need * 10))
    assert not bundle._fits_on(cuda, None)
    assert bundle._fits_on(cuda, True) and not bundle._fits_on(cuda, False)
    assert bundle._fits_on(torch.device("cpu"), None)


# --- augmentation ----------------------------------------------------------------------------------


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    x = torch.arange(6 * 2 * 5 * 5, dtype=torch.float32).view(6, 2, 5, 5) + 1
    assert torch.equal(random_crop(x, 0, _gen(0)), x)
    out = random_crop(x, 2, _gen(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(6):
        hits = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(out[i], padded[i, :, dy : dy + 5, dx : dx + 5])
        ]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 1  # offsets are drawn per image
    assert torch.equal(random_crop(x, 2, _gen(0)), out)  # same generator state, same crops


def test_random_hflip_twice_with_same_draws_is_identity():
    x = torch.randn(16, 3, 4, 6)
    once = random_hflip(x, _gen(5))
    assert torch.equal(random_hflip(once, _gen(5)), x)
    flipped = [not torch.equal(once[i], x[i]) for i in range(16)]
    for i in range(16):
        assert torch.equal(once[i], x[i].flip(-1) if flipped[i] else x[i])
    assert 0 < sum(flipped) < 16


def test_train_augmentation_crops_and_flips_the_same_samples(tmp_path):
    write_cifar10(tmp_path, per_batch=8, n_test=4)
    bundle = load_dataset("cifar10", data_dir=tmp_path)
    plain, _ = bundle.loaders(batch_size=40, seed=1, augment=False)
    augmented, _ = bundle.loaders(batch_size=40, seed=1)
    (xp, yp), (xa, ya) = next(iter(plain)), next(iter(augmented))
    assert torch.equal(yp, ya)  # augmentation does not change the order
    assert xa.shape == xp.shape and not torch.equal(xa, xp)
    raw_p, raw_a = unnormalise(xp, bundle), unnormalise(xa, bundle)
    padded = torch.nn.functional.pad(raw_p, (4, 4, 4, 4))
    for i in range(8):
        windows = [padded[i, :, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(raw_a[i], w) or torch.equal(raw_a[i], w.flip(-1)) for w in windows)
    # Same seed and epoch, same augmentation.
    again, _ = bundle.loaders(batch_size=40, seed=1)
    assert torch.equal(next(iter(again))[0], xa)
