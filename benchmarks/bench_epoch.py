"""One whole epoch of the seed's recipe, before and after: data, training, evaluation, logging.

    python benchmarks/bench_epoch.py                         # 60,000 + 10,000 images, fb814e8 vs this tree
    python benchmarks/bench_epoch.py --train-samples 6400 --test-samples 1280 --rounds 2

Runs ``python -m vgg_gluon.train --epochs 1`` (VGG-11/4, 96 px, batch 128,
CPU) in two source trees, alternating, each in a fresh process: a checkout of
``--base`` (made with ``git worktree add`` in a temporary directory and removed
afterwards) and this working tree. Reports the process's wall time (start-up,
reading and resizing the data, the epoch, the evaluation, saving) and the
epoch time train_ch5 prints.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_epoch(tree, args, out):
    cmd = [sys.executable, '-m', 'vgg_gluon.train', '--ratio', '4', '--resize', '96',
           '--epochs', '1', '--gpus', 'cpu', '--quiet', '--out', out]
    if args.train_samples:
        cmd += ['--train-samples', str(args.train_samples)]
    if args.test_samples:
        cmd += ['--test-samples', str(args.test_samples)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        record = json.loads(f.readline())
    return {'wall_s': wall, 'epoch_s': record['time'], 'loss': record['loss'],
            'test_acc': record['test_acc']}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--base', default='fb814e8', help='git commit to compare with')
    p.add_argument('--rounds', type=int, default=1)
    p.add_argument('--train-samples', type=int, default=None, help='default: all 60,000')
    p.add_argument('--test-samples', type=int, default=None, help='default: all 10,000')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix='bench_epoch_')
    base_tree = os.path.join(tmp, 'base')
    subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach', base_tree, args.base],
                   check=True, capture_output=True)
    trees = {f'base {args.base}': base_tree, 'this tree': ROOT}
    results = {name: [] for name in trees}
    try:
        for r in range(args.rounds):
            names = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in names:
                result = one_epoch(trees[name], args, os.path.join(tmp, f'run-{r}-{len(results[name])}-{name[:4]}'))
                results[name].append(result)
                if not args.json:
                    print(f"round {r + 1} {name:<14} wall {result['wall_s']:7.1f} s  epoch "
                          f"{result['epoch_s']:7.1f} s  loss {result['loss']:.4f}  "
                          f"test acc {result['test_acc']:.3f}", flush=True)
    finally:
        subprocess.run(['git', '-C', ROOT, 'worktree', 'remove', '--force', base_tree],
                       capture_output=True)
    summary = {name: {'wall_s': statistics.median(r['wall_s'] for r in runs),
                      'epoch_s': statistics.median(r['epoch_s'] for r in runs), 'runs': runs}
               for name, runs in results.items()}
    report = {'train_samples': args.train_samples or 60000, 'test_samples': args.test_samples or 10000,
              'rounds': args.rounds, 'date': time.strftime('%Y-%m-%d %H:%M %Z'), 'trees': summary}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    base, new = summary[f'base {args.base}'], summary['this tree']
    print(f"\n{report['train_samples']} train + {report['test_samples']} test images, "
          f"medians of {args.rounds} round(s), {report['date']}")
    for name, s in summary.items():
        print(f"{name:<14} wall {s['wall_s']:7.1f} s   epoch (train_ch5) {s['epoch_s']:7.1f} s")
    print(f"speed-up: wall {base['wall_s'] / new['wall_s']:.2f}x, epoch {base['epoch_s'] / new['epoch_s']:.2f}x")
    return 0


if __name__ == '__main__':
    sys.exit(main())
