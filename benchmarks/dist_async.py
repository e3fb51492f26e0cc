"""Test accuracy of one process, dist_sync and dist_async (2 workers, 1 server), per seed.

    python -m benchmarks.dist_async [--seeds 5,6,7] [--out FILE] [--lock /tmp/cpu.lock]

The package's default network (VGG-11 at 1/4 width, dropout 0.5) at 32 px on
the first 6,000 train / 2,000 test images, Adam lr 0.001, batch 128, 2 epochs.
Prints (and with --out writes) the exact commands, the date (UTC), the CPU and
each seed's test accuracy after epochs 1 and 2. With --lock every run is
wrapped in ``flock LOCK`` (a machine shared with other heavy runs).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = ['-m', 'vgg_gluon.train', '--resize', '32', '--epochs', '2', '--train-samples', '6000',
         '--test-samples', '2000', '--optimizer', 'adam', '--lr', '0.001', '--quiet']
LAUNCH = ['-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--timeout', '900', '--']


def commands(seed, out):
    """(name, argv) of the three runs of one seed, writing under ``out``."""
    train = TRAIN + ['--seed', str(seed)]
    py = sys.executable
    return [('1 process', [py, *train, '--out', os.path.join(out, 'single')]),
            ('dist_sync', [py, *LAUNCH, py, *train, '--kvstore', 'dist_sync',
                           '--out', os.path.join(out, 'sync')]),
            ('dist_async', [py, *LAUNCH, py, *train, '--kvstore', 'dist_async',
                            '--out', os.path.join(out, 'async')])]


def cpu():
    """'model name' of /proc/cpuinfo with its family and model numbers."""
    fields = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or 'unknown'
    return (f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')}), {os.cpu_count()} cores")


def accuracies(run_dir):
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        return [json.loads(line)['test_acc'] for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', default='5,6,7')
    p.add_argument('--out', help='also write the report to this file')
    p.add_argument('--lock', help='flock this file around every run')
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(',')]
    lines = [f"# python -m benchmarks.dist_async {' '.join(sys.argv[1:])}",
             f"date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
             f"CPU: {cpu()}", f"python: {sys.executable}", "commands (SEED, DIR per run):"]
    for name, argv in commands('SEED', 'DIR'):
        lines.append(f"  {name}: {' '.join(argv)}")
    lines.append('')
    lines.append(f"{'seed':>4}  {'run':<11} {'test acc e1':>11} {'test acc e2':>11}")
    print('\n'.join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for name, argv in commands(seed, os.path.join(tmp, str(seed))):
                prefix = ['flock', args.lock] if args.lock else []
                subprocess.run(prefix + argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                acc = accuracies(argv[argv.index('--out') + 1])
                line = (f"{seed:>4}  {name:<11} {acc[0]:>11.4f} {acc[-1]:>11.4f}")
                lines.append(line)
                print(line, flush=True)
    if args.out:
        with open(args.out, 'w') as f:
            f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
