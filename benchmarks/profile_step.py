"""Where a training step's time goes: MXNet's profiler, one row per operator.

    python benchmarks/profile_step.py            # VGG-11/4, 96 px, batch 128, 4 steps

Runs ``train.build_model``'s network and trainer on a synthetic batch with
op bulking switched off (``MXNET_EXEC_BULK_EXEC_TRAIN=0``, set here before
mxnet loads) so that every operator is timed on its own; bulking changes the
scheduling, not the kernels.
"""
import argparse
import os
import sys
import time

os.environ.setdefault('MXNET_EXEC_BULK_EXEC_TRAIN', '0')
os.environ.setdefault('MXNET_EXEC_BULK_EXEC_INFERENCE', '0')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import vgg_gluon  # noqa: E402,F401  (thread settings before mxnet loads)
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402
from vgg_gluon import train  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=4)
    p.add_argument('--ratio', type=int, default=4)
    p.add_argument('--resize', type=int, default=96)
    p.add_argument('--batch-size', type=int, default=128)
    args = p.parse_args(argv)
    config = train.parse_config(['--ratio', str(args.ratio), '--resize', str(args.resize),
                                 '--batch-size', str(args.batch_size), '--gpus', 'cpu'])
    train.seed_everything(0)
    net, trainer = train.build_model(config, mx.cpu())
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    rs = np.random.RandomState(0)
    X = mx.nd.array(rs.rand(args.batch_size, 1, args.resize, args.resize))
    y = mx.nd.array(rs.randint(0, 10, args.batch_size))

    def step():
        with autograd.record():
            l = loss(net(X), y).sum()
        l.backward()
        trainer.step(args.batch_size)
        mx.nd.waitall()

    for _ in range(2):  # warm-up: graph and oneDNN primitives
        step()
    mx.profiler.set_config(profile_imperative=True, profile_symbolic=True, aggregate_stats=True)
    mx.profiler.set_state('run')
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    wall = (time.perf_counter() - start) / args.steps
    mx.profiler.set_state('stop')
    table = mx.profiler.dumps(format='json')
    mx.profiler.dumps(reset=True)
    import json
    ops = json.loads(table).get('Time', {}).get('operator', {})
    total = sum(v['Total'] for v in ops.values())
    print(f"{args.steps} steps, {wall:.2f} s each (profiled, unbulked); "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"{'operator':<28}{'ms/step':>9}{'share':>8}")
    for name, v in sorted(ops.items(), key=lambda kv: -kv[1]['Total']):
        if v['Total'] / total >= 0.002:
            print(f"{name:<28}{v['Total'] / args.steps:>9.1f}{100 * v['Total'] / total:>7.1f}%")
    return 0


if __name__ == '__main__':
    sys.exit(main())
