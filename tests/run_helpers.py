"""What several test files compare about run directories (imported as ``run_helpers``)."""
import hashlib
import json
import os

import numpy as np

import mxnet as mx


def metrics(run_dir):
    """The per-epoch records of metrics.jsonl without their wall-clock times."""
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        return [{k: v for k, v in json.loads(line).items() if k != 'time'} for line in f]


def same_params(a, b):
    """True if two run directories' model.params hold the same arrays, bit for bit."""
    pa, pb = (mx.nd.load(os.path.join(d, 'model.params')) for d in (a, b))
    return sorted(pa) == sorted(pb) and all(
        np.array_equal(pa[k].asnumpy(), pb[k].asnumpy()) for k in pa)


def dir_hash(path):
    """{relative path: sha256} of every file under ``path``."""
    digests = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, 'rb') as f:
                digests[os.path.relpath(full, path)] = hashlib.sha256(f.read()).hexdigest()
    return digests
