"""Where a learning curve is heading: samples of a run's future validation accuracy, from the epochs so far.

A parametric curve ensemble (the idea of Domhan et al., IJCAI 2015), solved in closed form instead of by MCMC. Each
family is linear in its coefficients once its shape parameter ``theta`` is fixed::

    pow:      acc(t) = a - b * t**(-c)                          rises and flattens (most SGD curves)
    exp:      acc(t) = a - b * exp(-c * (t - 1))                flattens faster
    sigmoid:  acc(t) = a - b * exp(-(t / lam)**nu)               starts slowly, then rises (a small learning rate)
    drift:    acc(t) = a - b * t**(-c) + d * (t - 1)            flattens, then keeps rising or falls (overfitting)

With a Gaussian prior on the coefficients (``a``: the asymptote, centred some way between the best accuracy seen and
1; ``b`` loose; ``d`` near 0) and Gaussian noise, the posterior of the coefficients and the marginal likelihood of the
observed accuracies are exact for every ``theta`` on a grid and every noise level. Components (family, theta, noise)
are weighted by prior x marginal likelihood, and future curves are drawn from the mixture, plus the noise of one
validation measurement, so a sample is what the run would *measure* at each future epoch. With one epoch the prior
decides the shape (its settings were chosen on development runs, docs/forecast.md); every epoch after that lets the
data choose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CurvePrior", "CurveSamples", "sample_curves"]


@dataclass(frozen=True)
class CurvePrior:
    """The prior of the curve ensemble (defaults chosen on development runs; docs/forecast.md says how).

    Attributes:
        headroom: Prior mean of the asymptote, as the fraction of the gap between the best accuracy seen and 1.
        headroom_sd: Its standard deviation, as a fraction of the same gap.
        noise: Noise levels of one validation accuracy (absolute), mixed with ``noise_weights``.
        families: Prior weight of each family (``pow``, ``exp``, ``sigmoid``, ``drift``).
        drift_sd: Prior standard deviation of the drift family's slope (accuracy per epoch).
    """

    headroom: float = 0.45
    headroom_sd: float = 0.35
    noise: tuple[float, ...] = (0.004, 0.01, 0.025, 0.06)
    noise_weights: tuple[float, ...] = (0.4, 0.35, 0.15, 0.1)
    families: dict[str, float] = field(default_factory=lambda: {"pow": 0.4, "exp": 0.25, "sigmoid": 0.15, "drift": 0.2})
    drift_sd: float = 0.004


@dataclass(frozen=True)
class CurveSamples:
    """Sampled future validation accuracies.

    Attributes:
        epochs: The future epochs sampled (integers after the last observed one).
        accuracy: ``(samples, len(epochs))`` accuracies, each row one plausible future of the run.
        family_weights: Posterior weight of each curve family (what the data favoured).
    """

    epochs: np.ndarray
    accuracy: np.ndarray
    family_weights: dict[str, float]


def _grid(low: float, high: float, n: int) -> np.ndarray:
    return np.exp(np.linspace(np.log(low), np.log(high), n))


def _lognormal_weights(values: np.ndarray, median: float, sd: float) -> np.ndarray:
    w = np.exp(-0.5 * ((np.log(values) - np.log(median)) / sd) ** 2)
    return w / w.sum()


_C_POW = _grid(0.1, 4.0, 24)
_C_EXP = _grid(0.05, 3.0, 24)
_LAM = _grid(0.5, 20.0, 14)
_NU = np.array([1.5, 2.5, 4.0])


def _families() -> dict[str, tuple[np.ndarray, np.ndarray, Callable[[np.ndarray, np.ndarray], np.ndarray], bool]]:
    """Per family: its theta grid (rows), the prior weight of each theta, phi(t, theta) -> (thetas, len(t)), drift."""
    lam, nu = np.meshgrid(_LAM, _NU, indexing="ij")
    sig_theta = np.stack([lam.ravel(), nu.ravel()], axis=1)
    sig_w = _lognormal_weights(sig_theta[:, 0], 4.0, 1.0)
    return {
        "pow": (_C_POW[:, None], _lognormal_weights(_C_POW, 0.7, 0.8), lambda t, th: t[None, :] ** -th[:, :1], False),
        "exp": (
            _C_EXP[:, None],
            _lognormal_weights(_C_EXP, 0.5, 0.9),
            lambda t, th: np.exp(-th[:, :1] * (t[None, :] - 1.0)),
            False,
        ),
        "sigmoid": (
            sig_theta,
            sig_w / sig_w.sum(),
            lambda t, th: np.exp(-((t[None, :] / th[:, :1]) ** th[:, 1:2])),
            False,
        ),
        "drift": (_C_POW[:, None], _lognormal_weights(_C_POW, 0.7, 0.8), lambda t, th: t[None, :] ** -th[:, :1], True),
    }


_FAMILIES = _families()


def _design(phi: np.ndarray, t: np.ndarray, drift: bool) -> np.ndarray:
    """Design matrices ``(thetas, len(t), p)`` for the coefficients (a, b[, d])."""
    columns = [np.ones_like(phi), -phi]
    if drift:
        columns.append(np.broadcast_to(t[None, :] - 1.0, phi.shape))
    return np.stack(columns, axis=-1)


def sample_curves(
    epochs: Sequence[float],
    accuracies: Sequence[float],
    *,
    horizon: int,
    samples: int = 2000,
    prior: CurvePrior | None = None,
    noise_scale: Sequence[float] | None = None,
    seed: int = 0,
) -> CurveSamples:
    """Draw ``samples`` plausible futures of a learning curve up to epoch ``horizon``.

    Args:
        epochs: The epochs observed (from 1; fractional values are points within an epoch).
        accuracies: Validation accuracy at each, in [0, 1]; at least one point.
        horizon: The last epoch to sample (inclusive).
        samples: How many futures to draw.
        prior: The ensemble's prior; default :class:`CurvePrior`.
        noise_scale: Per observed point, a multiplier of the noise (larger for a rougher measurement).
        seed: Seed of the random draws (forecasts are reproducible).

    Returns:
        The futures at every whole epoch after the last observed one, up to ``horizon``.
    """
    prior = prior or CurvePrior()
    t = np.asarray(epochs, dtype=float)
    y = np.asarray(accuracies, dtype=float)
    if t.size == 0 or t.size != y.size:
        raise ValueError("sample_curves needs as many accuracies as epochs, at least one")
    scale = np.ones_like(t) if noise_scale is None else np.asarray(noise_scale, dtype=float)
    future = np.arange(int(np.floor(t.max())) + 1, max(horizon, int(np.floor(t.max()))) + 1, dtype=float)
    components = _components(t, y, scale, future, prior)
    return _draw(components, future, samples, np.random.default_rng(seed))


def _components(t: np.ndarray, y: np.ndarray, scale: np.ndarray, future: np.ndarray, prior: CurvePrior) -> list[Any]:
    """Every (family, theta, noise) component: log weight, name, posterior mean and Cholesky factor, future design."""
    top = float(np.max(y))
    gap = max(1.0 - top, 1e-3)
    a0, sa = min(1.0, top + prior.headroom * gap), prior.headroom_sd * gap + 0.005
    components = []
    for name, family_weight in prior.families.items():
        if family_weight <= 0:
            continue
        theta, theta_w, phi_of, drift = _FAMILIES[name]
        phi = phi_of(t, theta)  # (C, k)
        x = _design(phi, t, drift)  # (C, k, p)
        p = x.shape[-1]
        first = int(np.argmin(t))
        m0 = np.zeros((len(theta), p))
        m0[:, 0], m0[:, 1] = a0, (a0 - y[first]) / np.maximum(phi[:, first], 1e-6)
        s0 = np.array([sa**2, 1.0, prior.drift_sd**2][:p])
        x_f = _design(phi_of(future, theta) if future.size else np.zeros((len(theta), 0)), future, drift)
        for sigma, sigma_w in zip(prior.noise, prior.noise_weights, strict=True):
            noise = (sigma * scale) ** 2
            cov_y = np.einsum("ckp,p,cjp->ckj", x, s0, x) + np.diag(noise)[None]
            resid = y[None, :] - np.einsum("ckp,cp->ck", x, m0)
            _, logdet = np.linalg.slogdet(cov_y)
            quad = np.einsum("ck,ck->c", resid, np.linalg.solve(cov_y, resid[..., None])[..., 0])
            log_ml = -0.5 * (quad + logdet + len(t) * np.log(2 * np.pi))
            prec = np.diag(1.0 / s0)[None] + np.einsum("ckp,k,ckq->cpq", x, 1.0 / noise, x)
            cov = np.linalg.inv(prec)
            rhs = (m0 / s0)[:, :, None] + np.einsum("ckp,k,k->cp", x, 1.0 / noise, y)[:, :, None]
            mean = (cov @ rhs)[..., 0]
            chol = np.linalg.cholesky(0.5 * (cov + np.swapaxes(cov, 1, 2)))
            logw = np.log(family_weight) + np.log(sigma_w) + np.log(theta_w) + log_ml
            components.append((logw, name, mean, chol, x_f, sigma))
    return components


def _draw(components: list[Any], future: np.ndarray, samples: int, rng: np.random.Generator) -> CurveSamples:
    """Draw futures from the mixture: a component by its weight, its coefficients, then one measurement's noise."""
    logw = np.concatenate([c[0] for c in components])
    weights = np.exp(logw - logw.max())
    weights /= weights.sum()
    picks = rng.choice(len(weights), size=samples, p=weights)
    out = np.empty((samples, future.size))
    family_weights: dict[str, float] = {}
    start = 0
    for _, name, mean, chol, x_f, sigma in components:
        n = len(mean)
        family_weights[name] = family_weights.get(name, 0.0) + float(weights[start : start + n].sum())
        rows = np.nonzero((picks >= start) & (picks < start + n))[0]
        if rows.size:
            local = picks[rows] - start
            z = rng.standard_normal((rows.size, mean.shape[1]))
            coef = mean[local] + np.einsum("spq,sq->sp", chol[local], z)
            curve = np.einsum("sfp,sp->sf", x_f[local], coef)
            out[rows] = curve + sigma * rng.standard_normal(curve.shape)
        start += n
    return CurveSamples(epochs=future, accuracy=np.clip(out, 0.0, 1.0), family_weights=family_weights)
