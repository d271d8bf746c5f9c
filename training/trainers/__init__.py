"""The trainers: one module per training method, sharing one loop contract (loop.py).

Each trainer takes its run's config (the family's hyperparameters plus the fields of one run,
defined beside the trainer), its data and a `TrainingLoop`'s callbacks, and trains on the device
and in the precision its `DeviceContext` (device.py) decided once for the run. Losses, DiffAugment,
the seeded schedule and checkpoints are shared helpers, one module each.
"""
