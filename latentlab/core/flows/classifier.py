"""The pair classifier: which potential moved image x1 to image x2?

Trained jointly with the potentials it keeps them distinct (each must make a change the others do not);
a fresh copy trained after the fact measures how distinct they ended up (variation predictability).
No batch normalisation, so its answer for an image pair never depends on the rest of the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PairClassifier(nn.Module):
    """(x1, x2) images (B, C, H, W) -> (B, K) logits; sees x1, x2 and their difference."""

    def __init__(self, n_classes: int, channels: int, width: int = 16, seed: int = 0):
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"need at least one class, got {n_classes}")
        self.n_classes, self.channels, self.width = n_classes, channels, width
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            w = width
            self.features = nn.Sequential(
                nn.Conv2d(3 * channels, w, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 4 * w, 3, stride=1, padding=1), nn.ReLU(),
                # A 4x4 grid keeps where a change happened, which global pooling would throw away.
                nn.AdaptiveAvgPool2d(4),
                nn.Flatten(),
            )
            self.head = nn.Sequential(nn.Linear(4 * w * 16, 8 * w), nn.ReLU(), nn.Linear(8 * w, n_classes))

    @staticmethod
    def shapes_for(n_classes: int, channels: int, width: int) -> dict[str, tuple[int, ...]]:
        """The state_dict shapes of a PairClassifier with these sizes, computed without building it."""
        w = width
        convs = ((0, w, 3 * channels, 4), (2, 2 * w, w, 4), (4, 2 * w, 2 * w, 4), (6, 4 * w, 2 * w, 3))
        out: dict[str, tuple[int, ...]] = {}
        for i, cout, cin, ks in convs:
            out[f"features.{i}.weight"], out[f"features.{i}.bias"] = (cout, cin, ks, ks), (cout,)
        out["head.0.weight"], out["head.0.bias"] = (8 * w, 4 * w * 16), (8 * w,)
        out["head.2.weight"], out["head.2.bias"] = (n_classes, 8 * w), (n_classes,)
        return out

    @property
    def hparams(self) -> dict:
        return dict(n_classes=self.n_classes, channels=self.channels, width=self.width)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        d = x2 - x1
        # The change is shown at unit RMS: which potential acted shows in the pattern of the change, not
        # in how far one step went (early in training steps are tiny). Changes far below one grey level
        # fade out instead of being amplified into noise.
        rms = d.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
        return self.head(self.features(torch.cat([x1, x2, d / (rms + 1e-3)], dim=1)))
