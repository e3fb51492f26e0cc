"""Training speed of the seed's recipe: d2lzh's reference, vgg_gluon, PyTorch.

    python -m benchmarks.bench_train --quick        # under 5 minutes on 2 cores
    python -m benchmarks.bench_train                # 3 rounds, longer runs
    python -m benchmarks.bench_train --json         # one JSON object on stdout

Same recipe for every system: VGG-11 with channels / 4, 96-pixel Fashion-MNIST
images, batch 128, SGD lr 0.05, Xavier init. Systems:

  reference  seed 000's code as the book runs it (``seed000.py``): the seed's
             network (``nn.Sequential``, not hybridized) trained by
             ``d2lzh.train_ch5``, data as d2lzh loads it (per-image ``Resize`` +
             ``ToTensor`` in a ``DataLoader`` with 4 workers), MXNet's default
             settings (``OMP_NUM_THREADS`` unset in its process);
  vgg_gluon  what ``python -m vgg_gluon.train`` runs (``vgg_gluon.train``'s
             own functions: data, network, trainer, ``train_ch5``);
  torch      PyTorch eager on the CPU, the same network, data resized once
             (only when torch is installed: ``pip install .[bench]``);
  gemm       a float32 GEMM with vgg_gluon's thread count: the machine's peak.

Every system runs in its own process, one after another within a round, the
order rotating between rounds, so that drift and the other users of the
machine hit all alike; the figures are medians over the rounds. Training
images/s is steady state: the first ``--warmup`` batches (graph building,
oneDNN primitive creation, DataLoader start-up) are not timed. On a machine
with a GPU the vgg_gluon system also runs there (float32 and AMP float16),
as does torch when it has CUDA.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the reference and torch workers must not import vgg_gluon (it sets OMP_NUM_THREADS)
# nor mxnet (torch): seed000 reads the IDX files with numpy only
from ._args import Parser, at_least
from .seed000 import CONV_ARCH as SEED_CONV_ARCH, read_fashion_mnist_numpy

RECIPE = dict(arch='vgg11', ratio=4, resize=96, batch_size=128, lr=0.05)


# ---------------------------------------------------------------- helpers

class Stamped:
    """The first ``num_batches`` batches of ``batches``; stamps the time before each.

    ``sync`` (if given) runs before a stamp is taken at batch ``warmup`` and at
    the end, so that asynchronous engines have finished the work before.
    """

    def __init__(self, batches, num_batches, warmup, sync=None):
        self.batches, self.num_batches, self.warmup, self.sync = batches, num_batches, warmup, sync
        self.start = self.end = None

    def __len__(self):
        return self.num_batches

    def __iter__(self):
        it = iter(self.batches)
        for i in range(self.num_batches):
            if i == self.warmup:
                if self.sync:
                    self.sync()
                self.start = time.perf_counter()
            yield next(it)
        if self.sync:
            self.sync()
        self.end = time.perf_counter()

    def rate(self, batch_size):
        return (self.num_batches - self.warmup) * batch_size / (self.end - self.start)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def rotated(names, r):
    """Round ``r``'s order: each round starts one system later, so drift hits all alike."""
    return names[r % len(names):] + names[:r % len(names)]


# ---------------------------------------------------------------- workers

def worker_reference(args):
    """The seed's code with d2lzh's data pipeline and MXNet's defaults."""
    import contextlib
    import io
    import d2lzh as d2l
    import mxnet as mx
    from mxnet import gluon, init
    from .seed000 import d2lzh_loaders, seed_net

    ctx = mx.gpu() if args.device == 'gpu' else mx.cpu()
    bs = RECIPE['batch_size']
    train_loader, test_loader = d2lzh_loaders(bs, RECIPE['resize'])
    net = seed_net(RECIPE['ratio'])
    net.initialize(ctx=ctx, init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': RECIPE['lr']})
    train_iter = Stamped(train_loader, args.warmup + args.steps, args.warmup, mx.nd.waitall)
    test_iter = Stamped(test_loader, args.eval_batches, 0)
    with contextlib.redirect_stdout(io.StringIO()):
        d2l.train_ch5(net, train_iter, test_iter, bs, trainer, ctx, 1)
    _, eval_s = timed(lambda: d2l.evaluate_accuracy(test_iter, net, ctx))
    return {'train_img_s': train_iter.rate(bs), 'eval_img_s': args.eval_batches * bs / eval_s,
            'threads': os.environ.get('OMP_NUM_THREADS', 'MXNet default')}


def worker_gluon(args):
    """What ``python -m vgg_gluon.train`` runs, with its own functions."""
    import contextlib
    import io
    import vgg_gluon  # noqa: F401  (thread settings, before mxnet loads)
    import mxnet as mx
    from vgg_gluon import train
    from vgg_gluon.training import runner as training
    from vgg_gluon.runtime.devices import select_ctx
    from vgg_gluon.training.loop import evaluate_accuracy, train_ch5
    from vgg_gluon.runtime.seeding import seed_everything

    bs = RECIPE['batch_size']
    gpus = '0' if args.device == 'gpu' else 'cpu'
    config = train.parse_config(['--arch', RECIPE['arch'], '--ratio', str(RECIPE['ratio']),
                                 '--resize', str(RECIPE['resize']), '--batch-size', str(bs),
                                 '--lr', str(RECIPE['lr']), '--gpus', gpus, '--epochs', '1',
                                 '--train-samples', str((args.warmup + args.steps) * bs),
                                 '--test-samples', str(args.eval_batches * bs)]
                                + (['--amp'] if args.amp else []))
    ctx = select_ctx(config.gpus)
    seed_everything(config.seed)
    net, trainer = training.build_model(config, ctx)   # as training.run: model, then data
    train_iter, test_iter = training.load_data(config)
    stamped = Stamped(train_iter, len(train_iter), args.warmup, mx.nd.waitall)
    with contextlib.redirect_stdout(io.StringIO()):
        train_ch5(net, stamped, test_iter, bs, trainer, ctx, 1)
    _, eval_s = timed(lambda: evaluate_accuracy(test_iter, net, ctx))
    return {'train_img_s': stamped.rate(bs), 'eval_img_s': args.eval_batches * bs / eval_s,
            'threads': os.environ.get('OMP_NUM_THREADS')}


def worker_torch(args):
    """PyTorch eager: the same network, data resized once, the book's loop."""
    import numpy as np
    import torch
    from torch import nn
    import torch.nn.functional as F

    device = torch.device('cuda' if args.device == 'gpu' else 'cpu')
    torch.manual_seed(0)
    bs, size = RECIPE['batch_size'], RECIPE['resize']

    def prepared(split, n):
        images, labels = read_fashion_mnist_numpy(split)
        X = torch.from_numpy(images[:n].astype(np.float32))[:, None]
        # resize once (bilinear, like Resize), keep uint8 as the others do
        X = torch.cat([F.interpolate(c, size=(size, size), mode='bilinear', align_corners=False)
                       for c in X.split(5000)]).round().clamp(0, 255).to(torch.uint8)
        return X, torch.from_numpy(labels[:n]).long()

    def batches(X, y, shuffle):
        order = torch.randperm(len(X)) if shuffle else torch.arange(len(X))
        for start in range(0, len(X), bs):
            idx = order[start:start + bs]
            yield (X[idx].to(device).float() / 255), y[idx].to(device)

    layers, c_in = [], 1
    for num_convs, num_channels in SEED_CONV_ARCH:
        for _ in range(num_convs):
            layers += [nn.Conv2d(c_in, num_channels // RECIPE['ratio'], 3, padding=1), nn.ReLU()]
            c_in = num_channels // RECIPE['ratio']
        layers.append(nn.MaxPool2d(2, 2))
    side = size // 2 ** len(SEED_CONV_ARCH)
    layers += [nn.Flatten(), nn.Linear(c_in * side * side, 4096), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 10)]
    net = nn.Sequential(*layers).to(device)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    optimizer = torch.optim.SGD(net.parameters(), lr=RECIPE['lr'])
    loss = nn.CrossEntropyLoss(reduction='sum')
    sync = torch.cuda.synchronize if device.type == 'cuda' else None

    Xtr, ytr = prepared('train', (args.warmup + args.steps) * bs)
    Xte, yte = prepared('test', args.eval_batches * bs)
    train_iter = Stamped(batches(Xtr, ytr, True), args.warmup + args.steps, args.warmup, sync)
    net.train()
    train_l_sum = torch.zeros((), device=device)
    train_acc_sum = torch.zeros((), device=device)
    for X, y in train_iter:
        y_hat = net(X)
        l = loss(y_hat, y)
        optimizer.zero_grad()
        l.backward()
        optimizer.step()
        train_l_sum += l.detach()
        train_acc_sum += (y_hat.argmax(dim=1) == y).sum()

    def evaluate():
        net.eval()
        correct = torch.zeros((), device=device)
        with torch.no_grad():
            for X, y in batches(Xte, yte, False):
                correct += (net(X).argmax(dim=1) == y).sum()
        return correct.item() / len(Xte)
    evaluate()  # warm-up
    _, eval_s = timed(evaluate)
    result = {'train_img_s': train_iter.rate(bs), 'eval_img_s': len(Xte) / eval_s,
              'threads': torch.get_num_threads(), 'version': torch.__version__}
    if device.type == 'cpu':
        result['sgemm_gflops'] = {'torch.mm': gemm_gflops(
            lambda a, b: torch.mm(a, b), lambda n: torch.rand(n, n), args.gemm_n)}
    return result


def gemm_gflops(mm, make, n, repeats=5):
    """Best GFLOP/s of ``mm`` on two n x n float32 matrices (``mm`` returns when done)."""
    a, b = make(n), make(n)
    mm(a, b)
    best = min(timed(lambda: mm(a, b))[1] for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def worker_gemm(args):
    """The machine's float32 GEMM rate with vgg_gluon's thread settings."""
    import vgg_gluon  # noqa: F401  (same OMP_NUM_THREADS as the training)
    import numpy as np
    import mxnet as mx
    n = args.gemm_n
    rand = lambda n: np.random.rand(n, n).astype(np.float32)  # noqa: E731
    nd_rand = lambda n: mx.nd.random.uniform(shape=(n, n))  # noqa: E731
    return {'sgemm_gflops': {
        'numpy.dot': gemm_gflops(np.dot, rand, n),
        'mx.nd.dot': gemm_gflops(lambda a, b: mx.nd.dot(a, b).wait_to_read(), nd_rand, n),
        # oneDNN's inner product: the kernel behind Dense
        'mx.nd.FullyConnected': gemm_gflops(
            lambda a, b: mx.nd.FullyConnected(a, b, no_bias=True, num_hidden=n).wait_to_read(),
            nd_rand, n)},
        'threads': os.environ.get('OMP_NUM_THREADS')}


WORKERS = {'reference': worker_reference, 'vgg_gluon': worker_gluon, 'torch': worker_torch,
           'gemm': worker_gemm}


# ---------------------------------------------------------------- driver

def have(module):
    return subprocess.run([sys.executable, '-c', f'import {module}'],
                          capture_output=True).returncode == 0


def gpu_count():
    # seed000 first: its compatibility step lets mxnet import on numpy 1.24+ (Python 3.12+)
    out = subprocess.run([sys.executable, '-c',
                          'import benchmarks.seed000, mxnet; print(mxnet.context.num_gpus())'],
                         capture_output=True, text=True, cwd=ROOT)
    return int(out.stdout.strip() or 0) if out.returncode == 0 else 0


def torch_has_cuda():
    out = subprocess.run([sys.executable, '-c', 'import torch; print(torch.cuda.is_available())'],
                         capture_output=True, text=True)
    return out.stdout.strip() == 'True'


def run_worker(system, args, extra_env=None):
    """Run one system in a fresh process; its JSON result (or {'error': ...}).

    ``extra_env`` (name -> value) is added to the worker's environment.
    """
    name, _, variant = system.partition(':')
    env = dict(os.environ, **(extra_env or {}))
    if name == 'reference':
        env.pop('OMP_NUM_THREADS', None)  # MXNet's default: half the processors
    cmd = [sys.executable, '-m', __spec__.name, '--worker', name,
           '--steps', str(args.steps), '--warmup', str(args.warmup),
           '--eval-batches', str(args.eval_batches), '--gemm-n', str(args.gemm_n),
           '--device', 'gpu' if variant.startswith('gpu') else 'cpu']
    if variant == 'gpu-amp':
        cmd.append('--amp')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        return {'error': f'exit {proc.returncode}: {tail}'}
    return json.loads(lines[-1])


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(results, train_gflop_per_image):
    """Medians over rounds, ratios and the attained fraction of the GEMM peak."""
    summary = {}
    for system, runs in results.items():
        ok = [r for r in runs if 'error' not in r]
        entry = {'runs': runs}
        if ok and 'train_img_s' in ok[0]:
            entry['train_img_s'] = median(r['train_img_s'] for r in ok)
            entry['eval_img_s'] = median(r['eval_img_s'] for r in ok)
            entry['train_gflop_s'] = entry['train_img_s'] * train_gflop_per_image
        summary[system] = entry
    peaks = {}
    for runs in results.values():
        for r in runs:
            for kernel, value in r.get('sgemm_gflops', {}).items():
                peaks.setdefault(kernel, []).append(value)
    peak = max((median(v) for v in peaks.values()), default=None)
    for system, entry in summary.items():
        rate = entry.get('train_img_s')
        if rate is None:
            continue
        device = system.partition(':')[2].replace('-amp', '')  # compare on the same device
        ref = summary.get(':'.join(filter(None, ('reference', device))), {}).get('train_img_s')
        torch_rate = summary.get(':'.join(filter(None, ('torch', device))), {}).get('train_img_s')
        entry['vs_reference'] = rate / ref if ref else None
        entry['vs_torch'] = rate / torch_rate if torch_rate else None
        # the peak is the CPU's: no fraction for GPU rows
        entry['fraction_of_sgemm_peak'] = entry['train_gflop_s'] / peak if peak and not device else None
    return {'sgemm_peak_gflop_s': peak,
            'sgemm_gflop_s': {k: median(v) for k, v in peaks.items()},
            'train_gflop_per_image': train_gflop_per_image, 'systems': summary}


def print_table(report):
    fmt = lambda v, f: '-' if v is None else f % v  # noqa: E731
    print(f"\nrecipe: VGG-11/{RECIPE['ratio']}, {RECIPE['resize']} px, batch "
          f"{RECIPE['batch_size']}; {report['rounds']} round(s) x {report['steps']} timed steps "
          f"after {report['warmup']} warm-up; medians over rounds")
    print(f"training work: {report['train_gflop_per_image']:.3f} GFLOP per image "
          f"(forward + both gradients, from the layer shapes)")
    print(f"SGEMM peak: {fmt(report['sgemm_peak_gflop_s'], '%.1f')} GFLOP/s  ("
          + ', '.join(f'{k} {v:.1f}' for k, v in report['sgemm_gflop_s'].items()) + ')')
    print(f"\n{'system':<18}{'train img/s':>12}{'vs ref':>8}{'vs torch':>9}"
          f"{'GFLOP/s':>9}{'of peak':>9}{'eval img/s':>12}  threads")
    for system, e in report['systems'].items():
        if 'train_img_s' not in e:
            if system != 'gemm':
                print(f"{system:<18}  failed: {e['runs'][0].get('error')}")
            continue
        print(f"{system:<18}{e['train_img_s']:>12.1f}{fmt(e['vs_reference'], '%.2fx'):>8}"
              f"{fmt(e['vs_torch'], '%.2fx'):>9}{e['train_gflop_s']:>9.1f}"
              f"{fmt(e['fraction_of_sgemm_peak'] and 100 * e['fraction_of_sgemm_peak'], '%.0f%%'):>9}"
              f"{e['eval_img_s']:>12.1f}  {e['runs'][0].get('threads')}")


def main(argv=None):
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='2 rounds of short runs (< 5 min, 2 cores)')
    p.add_argument('--rounds', type=at_least(1), default=None, help='interleaved rounds (default 3; quick 2)')
    p.add_argument('--steps', type=at_least(1), default=None, help='timed batches per run (default 20; quick 6)')
    p.add_argument('--warmup', type=at_least(1), default=None, help='untimed batches first (default 4)')
    p.add_argument('--eval-batches', type=at_least(1), default=None, help='test batches timed (default 20; quick 8)')
    p.add_argument('--gemm-n', type=at_least(64), default=2048, help='GEMM side for the peak')
    p.add_argument('--systems', default='reference,vgg_gluon,torch,gemm',
                   help='comma-separated subset of reference,vgg_gluon,torch,gemm')
    p.add_argument('--json', action='store_true', help='print one JSON object instead of a table')
    p.add_argument('--worker', choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument('--device', default='cpu', help=argparse.SUPPRESS)
    p.add_argument('--amp', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    # warm-up 4 in both: the first steps pay oneDNN primitive creation and page
    # faults on fresh buffers (a 75 MB reorder takes 12x its steady time at step 1)
    defaults = dict(rounds=(2, 3), steps=(6, 20), warmup=(4, 4), eval_batches=(8, 20))
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0

    systems = [s for s in args.systems.split(',') if s]
    unknown = set(systems) - set(WORKERS)
    if unknown:
        p.error(f"--systems: unknown {', '.join(sorted(unknown))}; choose from {', '.join(WORKERS)}")
    if 'torch' in systems and not have('torch'):
        systems.remove('torch')
        print('torch is not installed: skipping it (pip install .[bench])', file=sys.stderr)
    if gpu_count():
        systems += [s + ':gpu' for s in systems if s in ('reference', 'vgg_gluon')]
        systems.append('vgg_gluon:gpu-amp')
        if 'torch' in systems and torch_has_cuda():
            systems.append('torch:gpu')

    from benchmarks.flops import train_flops
    gflop = train_flops(arch=RECIPE['arch'], ratio=RECIPE['ratio'],
                        resize=RECIPE['resize']) / 1e9

    results = {s: [] for s in systems}
    began = time.time()
    for r in range(args.rounds):
        for system in rotated(systems, r):
            result, seconds = timed(lambda: run_worker(system, args))
            results[system].append(result)
            if not args.json:
                shown = {k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}
                print(f"round {r + 1} {system:<18} {seconds:5.0f} s  {shown}", flush=True)
    report = summarize(results, gflop)
    report.update(rounds=args.rounds, steps=args.steps, warmup=args.warmup,
                  eval_batches=args.eval_batches, wall_s=time.time() - began,
                  date=time.strftime('%Y-%m-%d %H:%M %Z'), cpus=os.cpu_count())
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report)
        print(f"\n{report['wall_s']:.0f} s in all, {report['date']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
