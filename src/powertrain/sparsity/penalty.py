"""EAT's training penalty: lambda times the mean l0 density of the activations, computed in the same forward pass."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from powertrain.errors import ConfigError
from powertrain.sparsity._layers import LayerSelector, select_layers
from powertrain.sparsity.functional import Backend, L0Density, sigma_tensor, use_compiled_kernels

__all__ = ["EATPenalty", "Normalization", "SigmaSchedule"]

Normalization = Literal["numel", "params"]
SigmaSchedule = Literal["constant", "exponential", "linear"]


@dataclass
class _Entry:
    site: tuple[int, int]  # (id(module), call number since the last value())
    name: str
    tensor: Tensor | None  # the penalised output, to notice in-place changes before backward
    version: int
    density: Tensor
    copied: bool = False  # the density's backward reads a copy: an in-place change of ``tensor`` is harmless


class EATPenalty:
    """``lambda * E_hat`` of EAT (Lazzaro et al., ICIAP 2023), for any hand-written training loop.

    ``E_hat`` averages over the penalised layer outputs ``phi_k`` of the forward pass their l0 density
    ``l0_hat(phi_k) / numel(phi_k)`` with ``l0_hat(x) = sum_j x_j^2 / (x_j^2 + sigma)`` (see
    :func:`~powertrain.sparsity.l0_density`); it lies in [0, 1]. This is the reference code's training path.
    ``normalization="params"`` instead divides the summed ``l0_hat`` by the model's parameter count ``P`` (the
    paper's normalisation) and by the batch size ``B`` of each output, so the value does not grow with the
    batch: ``E_hat = sum_k l0_hat(phi_k) / (B_k * P)``, the number of firing units per sample per parameter.

    Usage::

        penalty = EATPenalty(model, lam=2.0, sigma=1e-4)
        for epoch in range(epochs):
            penalty.set_epoch(epoch)                # lambda warm-up and sigma schedule
            for x, y in loader:
                with penalty:                       # forward hooks, removed on exit (or penalty.attach())
                    out = model(x)
                    loss = F.cross_entropy(out, y) + penalty.value()
                loss.backward()
                log(penalty.last_density)           # detached E_hat, no host sync

    Each penalised module gets a forward hook that computes its output's density with
    :class:`~powertrain.sparsity.functional.L0Density` during the forward pass; the gradient is recomputed
    from the output in the backward pass, so nothing is stored besides a 0-d tensor per layer. Hooks do nothing
    when grad is disabled or the module is in eval mode (unless ``penalize_eval``), so evaluation costs nothing.

    Contract: :meth:`value` returns the penalty of every penalised call since the previous :meth:`value` or
    :meth:`reset` and starts a new accumulation; call it once per forward pass (keeping entries alive also
    keeps their graphs alive). A penalised output that is modified in place later in the forward pass (for
    example by ``nn.ReLU(inplace=True)`` after a BatchNorm with ``layers="all"``, or ``out += shortcut``)
    keeps its gradient: the first time a call site carries a gradient its output is copied (one step of extra
    memory) and watched; sites found modified keep being copied, the others save the output itself. A site
    modified in place only later gets no gradient in that step, with a warning, and is copied from then on.

    Args:
        model: The network; its leaf modules are selected at :meth:`attach` time.
        lam: Weight lambda >= 0 of the penalty (reference code: about 1 to 5).
        sigma: Smoothing constant > 0 of ``l0_hat`` (reference code: 1e-4), the start of ``sigma_schedule``.
        layers: ``"activations"``: outputs of activation modules (``ACTIVATION_TYPES``, ReLU etc.);
            ``"all"``: outputs of every leaf module except dropout (the reference code); or a callable
            ``fn(name, module) -> bool`` over leaf modules.
        normalization: ``"numel"`` (mean per-layer density, in [0, 1]) or ``"params"`` (see above).
        lam_warmup_epochs: Lambda grows linearly from 0 at the first step to ``lam`` after this many epochs (0: no
            warm-up), step by step when the number of steps per epoch is known (``steps_per_epoch`` here or in
            :meth:`set_epoch`), else once per epoch.
        sigma_schedule: ``"constant"``, or ``"exponential"`` (geometric) / ``"linear"`` from ``sigma`` at epoch 0
            to ``sigma_final`` at epoch ``total_epochs - 1``.
        sigma_final: Last sigma of a schedule.
        total_epochs: Epochs of the run, needed by a sigma schedule.
        backend: Density kernels: ``"auto"`` (compiled with ``torch.compile`` on CUDA when Triton is
            installed), ``"eager"`` or ``"compile"``.
        steps_per_epoch: Training steps (:meth:`value` calls) per epoch, for the per-step lambda ramp.
        penalize_eval: Also penalise modules that are in eval mode while the model trains (frozen feature
            extractors, frozen BatchNorm), as the reference code does. Default False: they are skipped, so
            ``E_hat`` averages over the layers being trained.

    Raises:
        ConfigError: A bad option, or a model with no module to penalise.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        lam: float = 1.0,
        sigma: float = 1e-4,
        layers: Literal["activations", "all"] | LayerSelector = "activations",
        normalization: Normalization = "numel",
        lam_warmup_epochs: int = 0,
        sigma_schedule: SigmaSchedule = "constant",
        sigma_final: float | None = None,
        total_epochs: int | None = None,
        backend: Backend = "auto",
        steps_per_epoch: int | None = None,
        penalize_eval: bool = False,
    ) -> None:
        _check_options(lam, sigma, normalization, lam_warmup_epochs, sigma_schedule, sigma_final, total_epochs)
        _check_steps(steps_per_epoch)
        use_compiled_kernels(backend, torch.device("cpu"))  # validates the name
        self.model, self.layers, self.backend = model, layers, backend
        self.lam, self.sigma, self.normalization = float(lam), float(sigma), normalization
        self.lam_warmup_epochs, self.sigma_schedule = lam_warmup_epochs, sigma_schedule
        self.sigma_final = None if sigma_final is None else float(sigma_final)
        self.total_epochs = total_epochs
        self.steps_per_epoch, self.penalize_eval = steps_per_epoch, bool(penalize_eval)
        if not select_layers(model, layers):
            raise ConfigError(
                f"EATPenalty found no module to penalise with layers={layers!r} in {type(model).__name__}; "
                "use nn.ReLU (or another activation) modules, not torch.nn.functional, or layers='all'"
            )
        self._num_params = sum(p.numel() for p in model.parameters())
        self._handles: list[RemovableHandle] = []
        self._names: dict[int, str] = {}
        self._depth = 0
        self._entries: list[_Entry] = []
        self._calls: dict[int, int] = {}
        self._copy_sites: set[tuple[int, int]] = set()  # outputs modified in place: save a copy
        self._known_sites: set[tuple[int, int]] = set()  # sites that have carried a gradient once
        self._sigma_tensors: dict[tuple[torch.device, torch.dtype], Tensor] = {}
        param = next(model.parameters(), None)
        self.last_density: Tensor = torch.zeros((), device=param.device if param is not None else None)
        self.epoch, self.step = 0, 0
        self.current_lam, self.current_sigma = self.lam, self.sigma
        self.set_epoch(0)

    # -- schedules -------------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int, *, steps_per_epoch: int | None = None) -> None:
        """Set lambda (warm-up) and sigma (schedule) for ``epoch`` (0-based); epoch 0 applies until called.

        Lambda then advances at every :meth:`value` that penalised something (one training step), along the
        linear ramp ``lam * min(1, (epoch + step / steps_per_epoch) / lam_warmup_epochs)``; without a known
        ``steps_per_epoch`` it stays at the epoch's value. Sigma changes per epoch only.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"epoch must be an integer >= 0, not {epoch!r}")
        _check_steps(steps_per_epoch)
        if steps_per_epoch is not None:
            self.steps_per_epoch = steps_per_epoch
        self.epoch, self.step = epoch, 0
        self._update_lam()
        sigma = self.sigma
        if self.sigma_schedule != "constant":
            assert self.sigma_final is not None and self.total_epochs is not None  # checked in __init__
            t = min(1.0, epoch / (self.total_epochs - 1)) if self.total_epochs > 1 else 1.0
            if self.sigma_schedule == "linear":
                sigma = self.sigma + (self.sigma_final - self.sigma) * t
            else:
                sigma = self.sigma * (self.sigma_final / self.sigma) ** t
        if sigma != self.current_sigma:
            self._sigma_tensors.clear()
        self.current_sigma = sigma

    def _update_lam(self) -> None:
        warm = self.lam_warmup_epochs
        progress = float(self.epoch)
        if self.steps_per_epoch:
            progress += min(self.step, self.steps_per_epoch) / self.steps_per_epoch
        self.current_lam = self.lam * (min(1.0, progress / warm) if warm > 0 else 1.0)

    # -- attaching -------------------------------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        """Whether the forward hooks are in place."""
        return bool(self._handles)

    def attach(self) -> EATPenalty:
        """Register the forward hooks (no-op when attached); :meth:`detach` removes them."""
        if not self._handles:
            for name, module in select_layers(self.model, self.layers):
                self._names[id(module)] = name
                self._handles.append(module.register_forward_hook(self._hook))
        return self

    def detach(self) -> None:
        """Remove the forward hooks; accumulated values stay until :meth:`value` or :meth:`reset`."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._depth = 0

    def __enter__(self) -> EATPenalty:
        if self._depth == 0 and not self._handles:
            self.attach()
        self._depth += 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        if self._depth <= 0:
            self.detach()

    # -- the penalty -----------------------------------------------------------------------------------------
    def _sigma(self, like: Tensor) -> Tensor:
        key = (like.device, like.dtype)
        t = self._sigma_tensors.get(key)
        if t is None:
            t = self._sigma_tensors[key] = sigma_tensor(self.current_sigma, like)
        return t

    def _hook(self, module: nn.Module, args: object, output: object) -> None:
        if not torch.is_grad_enabled() or not (module.training or self.penalize_eval):
            return
        if not isinstance(output, Tensor) or not output.is_floating_point() or output.numel() == 0:
            return
        key = id(module)
        call = self._calls.get(key, 0)
        self._calls[key] = call + 1
        site = (key, call)
        copy = site in self._copy_sites
        if self.normalization == "numel":
            scale = 1.0 / output.numel()
        else:
            batch = output.shape[0] if output.dim() > 0 else 1
            scale = 1.0 / (max(batch, 1) * max(self._num_params, 1))
        use_compile = use_compiled_kernels(self.backend, output.device)
        if self.current_lam == 0.0 or not output.requires_grad:
            with torch.no_grad():  # logged only: no graph, nothing saved
                density = L0Density.apply(output, self._sigma(output), scale, use_compile, False)
            self._entries.append(_Entry(site, self._names.get(key, ""), None, 0, density))
            return
        probe = site not in self._known_sites  # first gradient at this site: copy, and watch for in-place changes
        density = L0Density.apply(output, self._sigma(output), scale, use_compile, copy or probe)
        watched = None if copy else output
        self._entries.append(_Entry(site, self._names.get(key, ""), watched, output._version, density, probe))

    def value(self) -> Tensor:
        """``lambda * E_hat`` of the penalised calls since the last call; starts a new accumulation.

        Returns:
            A 0-d float32 tensor with a gradient path to the penalised activations (zero when nothing was
            penalised, e.g. in eval mode). ``last_density`` is set to the detached ``E_hat``.
        """
        entries, self._entries = self._entries, []
        self._calls.clear()
        if not entries:
            param = next(self.model.parameters(), None)
            self.last_density = torch.zeros((), device=param.device if param is not None else None)
            return self.last_density.clone()
        device = entries[0].density.device
        densities, stale = [], []
        for e in entries:
            d = e.density if e.density.device == device else e.density.to(device)
            if e.tensor is not None:
                self._known_sites.add(e.site)
                if e.tensor._version != e.version:
                    self._copy_sites.add(e.site)
                    if not e.copied:
                        stale.append(e)
                        d = d.detach()
            densities.append(d)
        self.step += 1
        self._update_lam()
        if stale:
            names = sorted({e.name or "<root>" for e in stale})
            warnings.warn(
                f"EATPenalty: the outputs of {', '.join(names)} were modified in place after being penalised "
                "(e.g. ReLU(inplace=True) or `out += shortcut`); they add no gradient this step and are copied "
                "from the next step on (extra memory). Make those operations out-of-place to avoid the copy.",
                RuntimeWarning,
                stacklevel=2,
            )
        stacked = torch.stack(densities)
        e_hat = stacked.mean() if self.normalization == "numel" else stacked.sum()
        self.last_density = e_hat.detach()
        return e_hat * self.current_lam

    def reset(self) -> None:
        """Drop the accumulated values (and the graphs they keep alive)."""
        self._entries = []
        self._calls.clear()

    def __repr__(self) -> str:
        return (
            f"EATPenalty(lam={self.current_lam:g}/{self.lam:g}, sigma={self.current_sigma:g}, layers={self.layers!r}, "
            f"normalization={self.normalization!r}, attached={self.attached})"
        )


def _check_steps(steps_per_epoch: int | None) -> None:
    if steps_per_epoch is not None and (
        isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1
    ):
        raise ConfigError(f"steps_per_epoch must be a positive integer, not {steps_per_epoch!r}")


def _check_options(
    lam: float,
    sigma: float,
    normalization: str,
    lam_warmup_epochs: int,
    sigma_schedule: str,
    sigma_final: float | None,
    total_epochs: int | None,
) -> None:
    def positive(x: object) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0

    if not (isinstance(lam, (int, float)) and not isinstance(lam, bool) and math.isfinite(lam) and lam >= 0):
        raise ConfigError(f"lam must be a number >= 0, not {lam!r}")
    if not positive(sigma):
        raise ConfigError(f"sigma must be a positive number, not {sigma!r}")
    if normalization not in ("numel", "params"):
        raise ConfigError(f"normalization must be 'numel' or 'params', not {normalization!r}")
    if isinstance(lam_warmup_epochs, bool) or not isinstance(lam_warmup_epochs, int) or lam_warmup_epochs < 0:
        raise ConfigError(f"lam_warmup_epochs must be an integer >= 0, not {lam_warmup_epochs!r}")
    if sigma_schedule not in ("constant", "exponential", "linear"):
        raise ConfigError(f"sigma_schedule must be 'constant', 'exponential' or 'linear', not {sigma_schedule!r}")
    if sigma_schedule != "constant":
        if not positive(sigma_final):
            raise ConfigError(f"sigma_schedule={sigma_schedule!r} needs a positive sigma_final, not {sigma_final!r}")
        if isinstance(total_epochs, bool) or not isinstance(total_epochs, int) or total_epochs < 1:
            raise ConfigError(f"sigma_schedule={sigma_schedule!r} needs total_epochs >= 1, not {total_epochs!r}")
