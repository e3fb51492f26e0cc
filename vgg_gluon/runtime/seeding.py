"""Seeding: one seed sets Python's, NumPy's and MXNet's generators.

MXNet 1.9 cannot save or restore its global random state (the dropout
masks), so training makes each epoch's randomness a function of
``(seed, epoch)`` instead (``seed_epoch``): a resumed epoch draws exactly what
the uninterrupted run drew. Python's and NumPy's states are saved in the
checkpoint as JSON (``rng_state``).
"""
import random

import numpy as np
import mxnet as mx


def seed_everything(seed):
    """Seed ``random``, NumPy and MXNet with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def epoch_seed(seed, epoch):
    """A 31-bit seed that depends only on (seed, epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def seed_epoch(seed, epoch):
    """Reseed everything for epoch ``epoch`` (0-based) of a run seeded ``seed``."""
    seed_everything(epoch_seed(seed, epoch))


def rng_state():
    """Python's and NumPy's generator states as JSON-able data (MXNet's: see seed_epoch)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {'python': [version, list(internal), gauss],
            'numpy': [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            'mxnet': 'reseeded from (seed, epoch) at every epoch start'}


def set_rng_state(state):
    """Restore what ``rng_state`` returned."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
