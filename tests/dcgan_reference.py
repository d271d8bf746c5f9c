"""The PyTorch examples' DCGAN generator (dcgan/main.py) as its own code computes it: random
weights under netG.state_dict()'s names, and the forward pass written out with
torch.nn.functional, independent of GANForge's modules."""

import torch
import torch.nn.functional as F

from models.checkpoints.pytorch_examples_dcgan import expected_layout


def reference_state(nz: int = 7, ngf: int = 2, nc: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """netG.state_dict() of dcgan/main.py's Generator, random, with batch-norm statistics far from 0/1."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in expected_layout(nz, ngf, nc).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(12)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.5
    return state


def reference_forward(state: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """dcgan/main.py's Generator in eval mode: z [N, nz] as [N, nz, 1, 1], four (deconv, BN, ReLU), deconv, tanh."""
    x = z[:, :, None, None]
    for conv, norm in ((0, 1), (3, 4), (6, 7), (9, 10)):
        x = F.conv_transpose2d(x, state[f"main.{conv}.weight"], stride=1 if conv == 0 else 2, padding=0 if conv == 0 else 1)
        x = F.batch_norm(x, state[f"main.{norm}.running_mean"], state[f"main.{norm}.running_var"],
                         state[f"main.{norm}.weight"], state[f"main.{norm}.bias"], training=False, eps=1e-5)
        x = F.relu(x)
    return torch.tanh(F.conv_transpose2d(x, state["main.12.weight"], stride=2, padding=1))
