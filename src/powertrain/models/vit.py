"""A small vision transformer for the EAT experiments on a model that is not a CNN (registered as ``vit``).

Pre-norm encoder blocks (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021)::

    x = x + MultiheadAttention(LayerNorm(x))
    x = x + fc2(act(fc1(LayerNorm(x))))          # act: an nn.ReLU (default) or nn.GELU module

Patches are embedded by a strided convolution, a learned class token and learned positional embeddings are
added, and the classifier reads the final LayerNorm of the class token. As in :mod:`powertrain.models`, every
activation is its own module called once per forward pass, so ``EATPenalty(layers="activations")`` penalises
exactly the MLP activations. Attention is ``nn.MultiheadAttention``, which module hooks do not see: estimate
its energy with the accelerator model's ``ops`` mode.

ReLU is the default because a zero-skipping accelerator skips exact zeros only: GELU's output is exactly zero
only at 0, so a GELU network has (almost) nothing to skip whatever the penalty does.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from powertrain.errors import ConfigError
from powertrain.models._registry import register_model

__all__ = ["EncoderBlock", "VisionTransformer"]

Activation = Literal["relu", "gelu"]


class EncoderBlock(nn.Module):
    """One pre-norm transformer encoder block with a two-layer MLP."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, activation: Activation) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.act: nn.Module = nn.ReLU() if activation == "relu" else nn.GELU()
        self.fc2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, N, dim)`` -> tokens ``(B, N, dim)``."""
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class VisionTransformer(nn.Module):
    """A ViT for small images: ``(image_size / patch_size)^2`` patches plus a class token.

    Args:
        in_channels, image_size, num_classes: The data.
        patch_size: Side of a square patch; must divide ``image_size``.
        dim: Token width; heads: attention heads (must divide ``dim``); depth: encoder blocks.
        mlp_dim: Hidden width of each block's MLP.
        activation: ``"relu"`` or ``"gelu"`` in the MLPs.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        image_size: int,
        num_classes: int,
        patch_size: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_dim: int,
        activation: Activation,
    ) -> None:
        super().__init__()
        for key, value in (("patch_size", patch_size), ("dim", dim), ("depth", depth), ("heads", heads),
                           ("mlp_dim", mlp_dim)):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"vit {key} must be a positive integer, got {value!r}")
        if image_size % patch_size:
            raise ConfigError(f"vit patch_size {patch_size} must divide image_size {image_size}")
        if dim % heads:
            raise ConfigError(f"vit heads {heads} must divide dim {dim}")
        if activation not in ("relu", "gelu"):
            raise ConfigError(f"vit activation must be 'relu' or 'gelu', not {activation!r}")
        tokens = (image_size // patch_size) ** 2
        self.patch = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads, mlp_dim, activation) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, C, H, W)``."""
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.pos
        return self.head(self.norm(self.blocks(tokens))[:, 0])


@register_model("vit")
def vit(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    patch_size: int | None = None,
    dim: int = 64,
    depth: int = 2,
    heads: int = 4,
    mlp_dim: int | None = None,
    activation: str = "relu",
) -> nn.Module:
    """A small vision transformer (:class:`VisionTransformer`), ReLU MLP activations (``activation="gelu"`` for GELU).

    ``patch_size`` defaults to ``image_size // 4`` (16 patches), ``mlp_dim`` to ``2 * dim``.
    """
    return VisionTransformer(
        in_channels=in_channels,
        image_size=image_size,
        num_classes=num_classes,
        patch_size=patch_size if patch_size is not None else max(1, image_size // 4),
        dim=dim,
        depth=depth,
        heads=heads,
        mlp_dim=mlp_dim if mlp_dim is not None else 2 * dim,
        activation=activation,  # type: ignore[arg-type]
    )
