"""Seeded streams the trainers share, so that what step s sees depends on (seed, s) alone."""

import numpy as np
import torch


def derived_seed(seed: int, stream: str, counter: int) -> int:
    """An independent 63-bit seed for each (run seed, stream, counter)."""
    entropy = [seed, counter, *stream.encode()]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


class BatchSchedule:
    """Epochs of shuffled, full batches; the order of epoch e depends on (seed, e) only."""

    def __init__(self, size: int, batch_size: int, seed: int):
        self.size, self.seed = size, seed
        self.batch_size = min(batch_size, size)
        self.per_epoch = size // self.batch_size
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.int64)

    def indices(self, step: int) -> torch.Tensor:
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            shuffle = torch.Generator().manual_seed(derived_seed(self.seed, "order", epoch))
            self._epoch, self._order = epoch, torch.randperm(self.size, generator=shuffle)
        return self._order[position * self.batch_size : (position + 1) * self.batch_size]
