"""powertrain.models: every registered model, parametrized over the registry."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

from powertrain.data import load_dataset
from powertrain.errors import ConfigError, UnknownNameError
from powertrain.models import create_model, list_models, register_model

CONFIGS = [(10, 3, 32), (7, 1, 28), (3, 3, 64), (2, 1, 12)]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_has_the_four_models():
    assert {"mlp", "lenet5", "resnet18", "vgg16"} <= set(list_models())


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize(("num_classes", "in_channels", "image_size"), CONFIGS)
def test_forward_shape(name, num_classes, in_channels, image_size):
    model = create_model(name, num_classes=num_classes, in_channels=in_channels, image_size=image_size).eval()
    with torch.no_grad():
        out = model(torch.randn(2, in_channels, image_size, image_size))
    assert out.shape == (2, num_classes) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_backward_reaches_every_parameter(name):
    model = create_model(name, num_classes=5, in_channels=3, image_size=32)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", list_models())
def test_every_relu_is_its_own_module_called_once(name):
    model = create_model(name, num_classes=10, in_channels=3, image_size=32)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and all(not m.inplace for m in relus)
    assert len({id(m) for m in relus}) == len(relus)
    calls: dict[int, int] = {}
    hooks = [m.register_forward_hook(lambda m, i, o: calls.__setitem__(id(m), calls.get(id(m), 0) + 1)) for m in relus]
    model(torch.randn(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert sorted(calls.values()) == [1] * len(relus) and len(calls) == len(relus)
    # No functional ReLU hides in a forward method.
    graph = fx.symbolic_trace(model).graph
    functional = {torch.relu, torch.relu_, nn.functional.relu, torch.nn.functional.relu_}
    assert not [n for n in graph.nodes if n.op == "call_function" and n.target in functional]
    assert not [n for n in graph.nodes if n.op == "call_method" and n.target in ("relu", "relu_")]


def test_parameter_counts_match_the_reference_architectures():
    resnet = n_params(create_model("resnet18", num_classes=10))
    vgg = n_params(create_model("vgg16", num_classes=10))
    assert 11.1e6 < resnet < 11.3e6  # CIFAR ResNet-18: about 11.2M
    assert 14.6e6 < vgg < 14.8e6  # VGG-16 with BN and one linear layer: about 14.7M
    # Only the classifier depends on num_classes: 512 weights + 1 bias per extra class.
    assert n_params(create_model("resnet18", num_classes=11)) - resnet == 513
    assert n_params(create_model("vgg16", num_classes=11)) - vgg == 513
    lenet = n_params(create_model("lenet5", num_classes=10, in_channels=1, image_size=28))
    assert 60_000 < lenet < 62_000  # LeCun's LeNet-5 is about 61.7k
    mlp = n_params(create_model("mlp", num_classes=10, in_channels=1, image_size=28, hidden_sizes=(100,)))
    assert mlp == 784 * 100 + 100 + 100 * 10 + 10


def test_cifar_style_architecture_details():
    resnet = create_model("resnet18", num_classes=10)
    assert resnet.conv1.kernel_size == (3, 3) and resnet.conv1.stride == (1, 1)
    assert not [m for m in resnet.modules() if isinstance(m, nn.MaxPool2d)]
    vgg32 = create_model("vgg16", num_classes=10, image_size=32)
    convs = [m for m in vgg32.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert len([m for m in vgg32.modules() if isinstance(m, nn.BatchNorm2d)]) == 13
    assert len([m for m in vgg32.modules() if isinstance(m, nn.Linear)]) == 1
    assert not [m for m in vgg32.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]  # 512x1x1 at 32
    vgg64 = create_model("vgg16", num_classes=10, image_size=64)
    assert [m for m in vgg64.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownNameError, match="resnet18"):
        create_model("resnet19", num_classes=10)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="image_size"):
        create_model("mlp", num_classes=10, image_size=4)
    with pytest.raises(ConfigError, match="num_classes"):
        create_model("mlp", num_classes=0)
    with pytest.raises(ConfigError, match="depth"):
        create_model("resnet18", num_classes=10, depth=34)
    with pytest.raises(ConfigError, match="hidden_sizes"):
        create_model("mlp", num_classes=10, hidden_sizes=(0,))
    with pytest.raises(ConfigError, match="12"):
        create_model("lenet5", num_classes=10, image_size=8)
    # None options are dropped (the model's default applies).
    assert n_params(create_model("mlp", num_classes=10, hidden_sizes=None)) > 0


def test_duplicate_registration_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register_model("mlp")(lambda **kw: nn.Identity())


def test_mlp_fits_synthetic_data():
    bundle = load_dataset("synthetic", num_classes=4, train_size=256, test_size=128, image_size=8, seed=0)
    info = bundle.info
    torch.manual_seed(0)
    model = create_model("mlp", num_classes=4, in_channels=info.in_channels, image_size=8, hidden_sizes=(64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train, test = bundle.loaders(batch_size=32, seed=0)
    for _ in range(3):
        for x, y in train:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in test)
    assert correct / info.test_size > 0.8
