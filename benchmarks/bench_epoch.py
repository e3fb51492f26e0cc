"""One whole epoch of the seed's recipe, before and after: data, training, evaluation, logging.

    python -m benchmarks.bench_epoch                          # all 60,000 + 10,000 images
    python -m benchmarks.bench_epoch --train-samples 6400 --test-samples 1280 --rounds 2
    python -m benchmarks.bench_epoch --base fb814e8           # also an older vgg_gluon

Systems, each a fresh process, alternating in rotating order between rounds:

  seed000    before: seed 000's code as the book runs it (benchmarks/seed000.py:
             d2lzh.train_ch5, d2lzh's per-image DataLoader, MXNet's defaults);
  vgg_gluon  after: ``python -m vgg_gluon.train --epochs 1`` in this tree;
  base       with ``--base COMMIT``: the same command in a checkout of that
             commit (``git worktree``, removed afterwards).

All train VGG-11/4 at 96 px, batch 128, SGD lr 0.05 for one epoch on the CPU.
Reports each process's wall time (start-up, reading and resizing the data,
the epoch, the evaluation, saving) and the epoch time train_ch5 prints.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from ._args import Parser, at_least
from .bench_train import ROOT, rotated

# d2lzh's and vgg_gluon's epoch line
EPOCH = re.compile(r'epoch 1, loss ([\d.]+), train acc ([\d.]+), test acc ([\d.]+), time ([\d.]+) sec')


def one_epoch(system, tree, args, out):
    """{'wall_s', 'epoch_s', 'loss', 'test_acc'} of one fresh process."""
    samples = []
    if args.train_samples:
        samples += ['--train-samples', str(args.train_samples)]
    if args.test_samples:
        samples += ['--test-samples', str(args.test_samples)]
    env = dict(os.environ)
    if system == 'seed000':
        cmd = [sys.executable, '-m', 'benchmarks.seed000', '--epochs', '1'] + samples
        env.pop('OMP_NUM_THREADS', None)  # MXNet's default, as the book runs
    else:
        cmd = [sys.executable, '-m', 'vgg_gluon.train', '--ratio', '4', '--resize', '96',
               '--epochs', '1', '--gpus', 'cpu', '--quiet', '--out', out] + samples
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    found = EPOCH.search(proc.stdout)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"{system}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    loss, _, test_acc, epoch_s = map(float, found.groups())
    return {'wall_s': wall, 'epoch_s': epoch_s, 'loss': loss, 'test_acc': test_acc}


def main(argv=None):
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--base', default=None, help='also time this git commit of vgg_gluon')
    p.add_argument('--rounds', type=at_least(1), default=1)
    p.add_argument('--train-samples', type=at_least(1), default=None, help='default: all 60,000')
    p.add_argument('--test-samples', type=at_least(1), default=None, help='default: all 10,000')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix='bench_epoch_')
    trees = {'seed000': ROOT, 'vgg_gluon': ROOT}
    if args.base:
        base_tree = os.path.join(tmp, 'base')
        made = subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach', base_tree, args.base],
                              capture_output=True, text=True)
        if made.returncode != 0:
            p.error(f"--base: {args.base!r} is not a commit of this repository")
        trees[f'base {args.base}'] = base_tree
    results = {name: [] for name in trees}
    try:
        for r in range(args.rounds):
            for name in rotated(list(trees), r):
                out = os.path.join(tmp, f'run-{r}-{name.split()[0]}')
                result = one_epoch(name.split()[0], trees[name], args, out)
                results[name].append(result)
                if not args.json:
                    print(f"round {r + 1} {name:<16} wall {result['wall_s']:7.1f} s  epoch "
                          f"{result['epoch_s']:7.1f} s  loss {result['loss']:.4f}  "
                          f"test acc {result['test_acc']:.3f}", flush=True)
    finally:
        if args.base:
            subprocess.run(['git', '-C', ROOT, 'worktree', 'remove', '--force', base_tree],
                           capture_output=True)
    summary = {name: {'wall_s': statistics.median(r['wall_s'] for r in runs),
                      'epoch_s': statistics.median(r['epoch_s'] for r in runs), 'runs': runs}
               for name, runs in results.items()}
    report = {'train_samples': args.train_samples or 60000, 'test_samples': args.test_samples or 10000,
              'rounds': args.rounds, 'date': time.strftime('%Y-%m-%d %H:%M %Z'),
              'cpus': os.cpu_count(), 'systems': summary}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    before = summary['seed000']
    print(f"\n{report['train_samples']} train + {report['test_samples']} test images, "
          f"medians of {args.rounds} round(s), {report['date']}, {report['cpus']} cores")
    for name, s in summary.items():
        print(f"{name:<16} wall {s['wall_s']:7.1f} s ({before['wall_s'] / s['wall_s']:.2f}x)   "
              f"epoch (train_ch5) {s['epoch_s']:7.1f} s ({before['epoch_s'] / s['epoch_s']:.2f}x)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
