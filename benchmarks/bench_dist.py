"""Scaling of data-parallel training: 1 process vs W workers + 1 server (dist_sync).

    python -m benchmarks.bench_dist [--workers 2] [--train-samples 2048]

Trains the same small VGG (ratio 8, 32 px, batch 64, SGD, 1 epoch) once in one
process and once under python -m vgg_gluon.launch, and prints each run's epoch
time (rank 0's book line: training plus test evaluation) and images per second.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--train-samples', type=int, default=2048)
    args = p.parse_args()
    train = [sys.executable, '-m', 'vgg_gluon.train', '--ratio', '8', '--resize', '32',
             '--epochs', '1', '--batch-size', '64', '--train-samples', str(args.train_samples),
             '--test-samples', '512', '--quiet']
    runs = [('1 process', [], []),
            (f'{args.workers} workers + 1 server', [sys.executable, '-m', 'vgg_gluon.launch', '-n',
                                                    str(args.workers), '-s', '1', '--'],
             ['--kvstore', 'dist_sync'])]
    print(f"{'run':<24} {'epoch s':>8} {'images/s':>9} {'wall s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, prefix, extra) in enumerate(runs):
            out = os.path.join(tmp, str(i))
            start = time.time()
            subprocess.run(prefix + train + extra + ['--out', out], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            wall = time.time() - start
            with open(os.path.join(out, 'metrics.jsonl')) as f:
                epoch = json.loads(f.readline())['time']
            print(f"{name:<24} {epoch:8.1f} {args.train_samples / epoch:9.0f} {wall:7.1f}")


if __name__ == '__main__':
    main()
