"""What augmentation costs per batch, against a training step of the same batch.

    python -m benchmarks.bench_augment                 # 32 and 96 px, batch 128
    python -m benchmarks.bench_augment --sizes 32 --repeats 5 --json

Each augmentation of ``vgg_gluon.data.augment`` (and two lists: the ``best``
recipe's crop,flip and crop,flip,erase) runs on a batch of uint8 images in
NumPy; reported are the
milliseconds per batch (median of the repeats). The training step to set it
beside: VGG-11/4 (the seed's network) at 96 px and the ``fast`` network
(VGG-11-BN/4, dense layers scaled) at 32 px, one SGD step on a synthetic
batch after warm-up, measured in the same process.
"""
import json
import statistics
import time

import numpy as np

import vgg_gluon  # noqa: F401  (OMP_NUM_THREADS before mxnet)
from vgg_gluon.data import augment

from ._args import Parser, at_least

NETWORKS = {96: dict(arch='vgg11', ratio=4), 32: dict(arch='vgg11-bn', ratio=4, scale_dense=True)}


def augment_ms(size, batch, names, repeats):
    images = np.random.RandomState(0).randint(0, 256, size=(batch, size, size)).astype(np.uint8)
    rng = np.random.RandomState(1)
    result = {}
    for name in names:
        step = augment.make_augment(name)
        step(images, rng)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(10):
                step(images, rng)
            times.append((time.perf_counter() - start) / 10 * 1e3)
        result[name] = statistics.median(times)
    return result


def step_ms(size, batch, steps=5):
    """One training step (forward, backward, SGD update) of the network for ``size``."""
    import mxnet as mx
    from mxnet import autograd, gluon
    from vgg_gluon.training import runner as training
    from vgg_gluon.config import Config
    config = Config(resize=size, batch_size=batch, gpus='cpu', **NETWORKS[size]).validate()
    net, trainer = training.build_model(config, [mx.cpu()])
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    X, y = mx.nd.random.uniform(shape=(batch, 1, size, size)), mx.nd.zeros((batch,))
    times = []
    for i in range(steps + 2):
        start = time.perf_counter()
        with autograd.record():
            l = loss(net(X), y).sum()
        l.backward()
        trainer.step(batch)
        mx.nd.waitall()
        if i >= 2:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv=None):
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', default='32,96', help='comma-separated: 32 and/or 96')
    p.add_argument('--batch-size', type=at_least(1), default=128)
    p.add_argument('--repeats', type=at_least(1), default=5)
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(',')]
    except ValueError:
        sizes = [0]
    if not sizes or any(s not in NETWORKS for s in sizes):
        p.error(f"--sizes: must be 32 and/or 96, comma-separated, got {args.sizes!r}")
    from vgg_gluon.training.measure import where_and_when
    header = where_and_when('benchmarks.bench_augment', argv)
    names = list(augment.AUGMENTATIONS) + ['crop,flip', 'crop,flip,erase']
    report = {}
    for size in sizes:
        report[size] = {'augment_ms': augment_ms(size, args.batch_size, names, args.repeats),
                        'train_step_ms': step_ms(size, args.batch_size)}
    if args.json:
        print(json.dumps(dict(report, header=header), indent=1))
        return 0
    print(header)
    for size, r in report.items():
        step = r['train_step_ms']
        print(f"{size} px, batch {args.batch_size}: a training step {step:.0f} ms")
        for name, ms in r['augment_ms'].items():
            print(f"  {name:<16} {ms:7.2f} ms  ({ms / step:.1%} of a step)")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
