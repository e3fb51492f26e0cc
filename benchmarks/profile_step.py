"""Where a training step's time goes: one row per operator, or per oneDNN primitive.

    python -m benchmarks.profile_step            # MXNet's profiler: VGG-11/4, 96 px, batch 128
    python -m benchmarks.profile_step --dnnl     # oneDNN's own timings, one row per kernel call
    python -m benchmarks.profile_step --sgd mxnet   # with MXNet's own SGD step, to compare

Runs ``training.build_model``'s network and trainer on a synthetic batch (the
kernels do not care what the pixels are). The default view switches op
bulking off (``MXNET_EXEC_BULK_EXEC_TRAIN=0``, set here before mxnet loads)
so that every operator is timed on its own; bulking changes the scheduling,
not the kernels, but it shortens the step a lot (fewer engine pushes and
waits): ``MXNET_EXEC_BULK_EXEC_TRAIN=1`` gives the step's time and share of
the peak as training runs it. ``--dnnl`` reruns the steps in a child process with
``DNNL_VERBOSE=1`` and sums oneDNN's reported time per primitive (kind,
implementation, pass, shape) over the timed steps: which kernel oneDNN picked
for each layer, what it cost, and the GFLOP/s each convolution and dense
layer attains.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('MXNET_EXEC_BULK_EXEC_TRAIN', '0')
os.environ.setdefault('MXNET_EXEC_BULK_EXEC_INFERENCE', '0')

from ._args import Parser, at_least  # noqa: E402  (after the environment above)

WARMUP = 4  # the first steps pay primitive creation and page faults on fresh buffers


def build(args):
    """A step function of training.build_model's network on one synthetic batch."""
    import vgg_gluon  # noqa: F401  (thread settings before mxnet loads)
    import mxnet as mx
    import numpy as np
    from mxnet import autograd, gluon
    from vgg_gluon import train
    from vgg_gluon.training import runner as training
    from vgg_gluon.runtime.seeding import seed_everything
    config = train.parse_config(['--ratio', str(args.ratio), '--resize', str(args.resize),
                                 '--batch-size', str(args.batch_size), '--gpus', 'cpu'])
    seed_everything(0)
    net, trainer = training.build_model(config, [mx.cpu()])
    if args.sgd == 'mxnet':  # the same Trainer with MXNet's SGD instead of optimizers.SGD
        trainer = gluon.Trainer(list(net.collect_params().values()), 'sgd',
                                {'learning_rate': config.lr}, kvstore=config.kvstore)
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
    return step


def operators(args):
    """MXNet's profiler, aggregated per operator."""
    import json
    step = build(args)  # first: it imports vgg_gluon, whose thread setting must precede mxnet
    import mxnet as mx
    for _ in range(WARMUP):
        step()
    # timed before the profiler is configured, so that none of its work is in the step's time
    peak_line = share_of_peak(args, step)
    # the trace file is not needed (aggregate_stats keeps the table in memory): not in cwd
    mx.profiler.set_config(profile_imperative=True, profile_symbolic=True, aggregate_stats=True,
                           filename=os.path.join(tempfile.mkdtemp(), 'profile.json'))
    mx.profiler.set_state('run')
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    wall = (time.perf_counter() - start) / args.steps
    mx.profiler.set_state('stop')
    ops = json.loads(mx.profiler.dumps(format='json')).get('Time', {}).get('operator', {})
    mx.profiler.dumps(reset=True)
    total = sum(v['Total'] for v in ops.values())
    print(f"{args.steps} steps, {wall:.2f} s each (profiled, {_bulking()}); "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"{'operator':<28}{'ms/step':>9}{'share':>8}")
    for name, v in sorted(ops.items(), key=lambda kv: -kv[1]['Total']):
        if v['Total'] / total >= 0.002:
            print(f"{name:<28}{v['Total'] / args.steps:>9.1f}{100 * v['Total'] / total:>7.1f}%")
    print(peak_line)


def _bulking():
    """'unbulked' (this module's default), or 'bulked' as training runs
    (MXNET_EXEC_BULK_EXEC_TRAIN=1 given)."""
    return 'unbulked' if os.environ.get('MXNET_EXEC_BULK_EXEC_TRAIN') == '0' else 'bulked'


def share_of_peak(args, step):
    """The unprofiled step's GFLOP/s (benchmarks/flops.py) against the float32 GEMM
    peak (bench_train's kernels, the best of them), both measured now in this process."""
    import mxnet as mx
    import numpy as np
    from .bench_train import gemm_gflops
    from .flops import train_flops
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    wall = (time.perf_counter() - start) / args.steps
    rate = args.batch_size * train_flops(ratio=args.ratio, resize=args.resize) / wall / 1e9
    n = 2048
    peaks = {'numpy.dot': gemm_gflops(np.dot, lambda n: np.random.rand(n, n).astype(np.float32), n),
             'mx.nd.FullyConnected': gemm_gflops(
                 lambda a, b: mx.nd.FullyConnected(a, b, no_bias=True, num_hidden=n).wait_to_read(),
                 lambda n: mx.nd.random.uniform(shape=(n, n)), n)}
    peak = max(peaks.values())
    return (f"unprofiled step ({_bulking()}): {wall * 1000:.0f} ms, {rate:.1f} GFLOP/s = "
            f"{100 * rate / peak:.0f} % of the SGEMM peak {peak:.1f} GFLOP/s ("
            + ', '.join(f'{k} {v:.1f}' for k, v in peaks.items()) + ')')


def primitive_flops(kind, shape):
    """FLOPs of one convolution or inner-product call from oneDNN's shape string."""
    d = {k: int(v) for k, v in re.findall(r'([a-z]+)(\d+)', shape)}
    if kind == 'convolution':
        return 2 * d['mb'] * d['ic'] * d['oc'] * d['oh'] * d['ow'] * d['kh'] * d['kw']
    if kind == 'inner_product':
        return 2 * d['mb'] * d['ic'] * d['oc']
    return None


def primitives(args):
    """oneDNN's verbose log of the child's timed steps, summed per primitive."""
    import vgg_gluon  # noqa: F401  (OMP_NUM_THREADS for the child, as in training)
    cmd = [sys.executable, '-m', __spec__.name, '--dnnl-child', '--steps', str(args.steps),
           '--ratio', str(args.ratio), '--resize', str(args.resize),
           '--batch-size', str(args.batch_size), '--sgd', args.sgd]
    env = dict(os.environ, DNNL_VERBOSE='1', MKLDNN_VERBOSE='1')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"profile_step.py: the child failed: {proc.stderr.strip()[-300:]}")
    calls = [line.split(',') for line in proc.stdout.splitlines()
             if line.startswith('dnnl_verbose,exec')]
    # a step starts at the first convolution's forward pass (the 1-channel input)
    starts = [i for i, f in enumerate(calls)
              if f[3] == 'convolution' and f[5] == 'forward_training' and '_ic1oc' in f[-2]]
    timed_calls = calls[starts[-args.steps]:]
    wall = float(proc.stdout.rsplit('wall ', 1)[1].split()[0])
    rows, count = collections.Counter(), collections.Counter()
    for f in timed_calls:
        kind, impl, pass_, shape, ms = f[3], f[4], f[5], f[-2], float(f[-1])
        shape = shape if kind in ('convolution', 'inner_product') else shape.split('_')[0]
        key = (kind, impl, pass_ if pass_ != 'undef' else '', shape)
        rows[key] += ms / args.steps
        count[key] += 1
    total = sum(rows.values())
    print(f"{args.steps} steps after {WARMUP} warm-up, {wall * 1000:.0f} ms each; oneDNN kernels "
          f"{total:.0f} ms ({100 * total / wall / 1000:.0f} %); "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"{'ms/step':>8}{'share':>7}{'GFLOP/s':>9}  {'kind':<14}{'implementation':<15}"
          f"{'pass':<17}shape")
    for key, ms in rows.most_common():
        if ms / total < 0.002:
            continue
        flops = primitive_flops(key[0], key[3])
        rate = f"{flops * count[key] / args.steps / ms / 1e6:.1f}" if flops else ''
        print(f"{ms:>8.1f}{100 * ms / total:>6.1f}%{rate:>9}  {key[0]:<14}{key[1]:<15}{key[2]:<17}{key[3]}")


def main(argv=None):
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=at_least(1), default=4, help='profiled steps (after 4 warm-up)')
    p.add_argument('--ratio', type=at_least(1), default=4)
    p.add_argument('--resize', type=at_least(32), default=96)
    p.add_argument('--batch-size', type=at_least(1), default=128)
    p.add_argument('--dnnl', action='store_true', help="oneDNN's per-kernel timings instead")
    p.add_argument('--sgd', choices=('ours', 'mxnet'), default='ours',
                   help="the SGD step: training's (optimizers.SGD) or MXNet's own")
    p.add_argument('--dnnl-child', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.dnnl_child:  # DNNL_VERBOSE is set: just run the steps
        step = build(args)
        for _ in range(WARMUP):
            step()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        print(f"wall {(time.perf_counter() - start) / args.steps:.4f} s/step", flush=True)
    elif args.dnnl:
        primitives(args)
    else:
        operators(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
