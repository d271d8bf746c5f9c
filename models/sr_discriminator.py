"""A VGG-style discriminator for super-resolution GANs, with spectral normalisation.

SRGAN/ESRGAN's VGG-style network (pairs of 3x3 convolutions, the second of each pair with
stride 2, widths doubling) with spectral norm (Miyato et al. 2018) on every layer in place of
batch norm, as Real-ESRGAN does for its discriminator: each image is judged on its own, and the
Lipschitz bound keeps the relativistic game stable on small data. Global average pooling
before the last layer makes it work at any patch size of 16 pixels or more.

`forward(x)` gives one logit per image; `forward(x, features=True)` also gives the activations
after each stage, which the trainer's feature-matching loss compares for real and generated
images (a feature loss that needs no downloaded VGG weights).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from models.registry import register


@register("vgg_sn_discriminator")
class VGGStyleDiscriminatorSN(nn.Module):
    def __init__(self, channels: int = 3, features: int = 64, stages: int = 4):
        super().__init__()
        self.stages = nn.ModuleList()
        width_in = channels
        for i in range(stages):
            width = features * 2 ** min(i, 3)
            self.stages.append(nn.Sequential(
                spectral_norm(nn.Conv2d(width_in, width, 3, 1, 1)),
                nn.LeakyReLU(0.2, inplace=True),
                spectral_norm(nn.Conv2d(width, width, 4, 2, 1)),
                nn.LeakyReLU(0.2, inplace=True),
            ))
            width_in = width
        self.head = nn.Sequential(spectral_norm(nn.Linear(width_in, width_in)), nn.LeakyReLU(0.2, inplace=True),
                                  spectral_norm(nn.Linear(width_in, 1)))

    def forward(self, x: torch.Tensor, features: bool = False):
        taps = []
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        logits = self.head(F.adaptive_avg_pool2d(x, 1).flatten(1)).squeeze(1)
        return (logits, taps) if features else logits
