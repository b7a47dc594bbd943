"""Temporal building blocks shared by the sequence models (torch).

Every block works on features laid out (B, C, T) and takes `mask` (B, 1, T) float (1 for real frames, 0 for
padding): outputs are multiplied by it after every layer, as MS-TCN does, so that padded frames stay zero and a
sequence's outputs do not depend on how much padding its batch adds.

- `DilatedResidualLayer`: MS-TCN's layer (Abu Farha & Gall, CVPR 2019): dilated 3-tap convolution, ReLU, 1x1
  convolution, dropout, residual; `causal=True` pads on the past side only, so frame t sees frames <= t.
- `SingleStageTCN`: MS-TCN's single stage: 1x1 in, dilated residual layers with dilation 2^l, 1x1 to classes; the
  refinement stage of MS-TCN and MS-TCN++.
- `smoothing_loss`: MS-TCN's truncated mean squared error over frame-to-frame log-probability changes.
- `EncoderDecoderTCN`: ED-TCN (Lea et al., CVPR 2017): convolution and max pooling down, upsampling and convolution
  up, 1x1 to classes; any length (padded to a multiple of 2^levels inside, cropped back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DilatedResidualLayer(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float = 0.5, causal: bool = False):
        super().__init__()
        self.dilation = dilation
        self.causal = causal
        self.conv = nn.Conv1d(channels, channels, kernel_size=3, dilation=dilation)
        self.out = nn.Conv1d(channels, channels, kernel_size=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        d = self.dilation
        padded = F.pad(x, (2 * d, 0) if self.causal else (d, d))
        h = self.dropout(self.out(F.relu(self.conv(padded))))
        return (x + h) * mask


class SingleStageTCN(nn.Module):
    """in_dim features -> `layers` dilated residual layers of `channels` -> num_classes logits, all (B, ., T)."""

    def __init__(self, in_dim: int, channels: int, num_classes: int, layers: int, dropout: float = 0.5,
                 causal: bool = False):
        super().__init__()
        self.inp = nn.Conv1d(in_dim, channels, kernel_size=1)
        self.layers = nn.ModuleList(DilatedResidualLayer(channels, 2 ** i, dropout, causal) for i in range(layers))
        self.head = nn.Conv1d(channels, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.inp(x) * mask
        for layer in self.layers:
            h = layer(h, mask)
        return self.head(h) * mask


def smoothing_loss(logits: torch.Tensor, mask: torch.Tensor, tau: float = 4.0) -> torch.Tensor:
    """MS-TCN's T-MSE: the mean over classes and pairs of consecutive real frames of min(|log p_t - log p_t-1|,
    tau)^2, with p the softmax over classes of `logits` (B, T, C) and `mask` (B, T) bool. The earlier frame is
    detached (as MS-TCN trains it), so the loss pulls each frame towards its predecessor. 0 when no pair exists."""
    logp = F.log_softmax(logits, dim=-1)
    delta = (logp[:, 1:] - logp[:, :-1].detach()).abs().clamp(max=tau) ** 2
    pairs = (mask[:, 1:] & mask[:, :-1]).unsqueeze(-1).expand_as(delta)
    total = torch.where(pairs, delta, torch.zeros_like(delta)).sum()
    return total / pairs.sum().clamp(min=1)


class EncoderDecoderTCN(nn.Module):
    """ED-TCN: per encoder level a temporal convolution, ReLU, dropout and max pooling by 2; per decoder level (the
    encoder's widths reversed) upsampling by 2 (nearest), a temporal convolution, ReLU and dropout; a 1x1 convolution
    to `num_classes`. (B, in_dim, T) -> (B, num_classes, T) for any T: the input is padded with masked zeros to a
    multiple of 2^levels and the output cropped back. Features are zero at padded frames before every convolution
    and non-negative after ReLU, so pooling a real frame with a padded one keeps the real one's value."""

    def __init__(self, in_dim: int, channels: tuple[int, ...], num_classes: int, kernel_size: int = 5,
                 dropout: float = 0.3):
        super().__init__()
        pad = kernel_size // 2
        widths = [in_dim, *channels]
        self.encoder = nn.ModuleList(nn.Conv1d(a, b, kernel_size, padding=pad) for a, b in zip(widths, widths[1:]))
        back = [channels[-1], *reversed(channels)]
        self.decoder = nn.ModuleList(nn.Conv1d(a, b, kernel_size, padding=pad) for a, b in zip(back, back[1:]))
        self.head = nn.Conv1d(channels[0], num_classes, kernel_size=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        extra = -t % (2 ** len(self.encoder))
        x, mask = F.pad(x * mask, (0, extra)), F.pad(mask, (0, extra))
        masks = []
        for conv in self.encoder:
            x = self.dropout(F.relu(conv(x))) * mask
            masks.append(mask)
            x, mask = F.max_pool1d(x, 2), F.max_pool1d(mask, 2)
        for conv, mask in zip(self.decoder, reversed(masks)):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest") * mask
            x = self.dropout(F.relu(conv(x))) * mask
        return self.head(x)[..., :t] * mask[..., :t]
