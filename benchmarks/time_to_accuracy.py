"""Wall time to a test accuracy: the seed's recipe against ``fast`` and ``best``.

    python -m benchmarks.time_to_accuracy                                # all three, in full
    python -m benchmarks.time_to_accuracy --recipes seed000,fast --epochs seed000=2
    python -m benchmarks.time_to_accuracy --train-samples 512 --test-samples 256 --epochs 1
    python -m benchmarks.time_to_accuracy --recipes fast --keep runs/tta   # keep the runs

Each recipe runs as ``python -m vgg_gluon.train --recipe NAME`` in a fresh
process, one after the other, evaluated on the test images after every
epoch (as train_ch5 does). The clock starts when the process is started, so
start-up, reading and resizing the data and every evaluation count. For each
target accuracy the table gives the wall time of the first epoch whose test
accuracy reached it (``-``: not within the epochs run).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from ._args import Parser
from .bench_train import ROOT

TARGETS = (0.85, 0.88, 0.89)
RECIPES = ('seed000', 'fast', 'best')


def _epochs_arg(text):
    """'3' (every recipe) or 'seed000=2,best=3' -> {name or '*': epochs}."""
    import argparse
    try:
        if '=' not in text:
            return {'*': int(text)}
        return {name: int(value) for name, value in (p.split('=') for p in text.split(','))}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be N or NAME=N,... (e.g. seed000=2,best=3), got {text!r}") from None


def run_recipe(name, epochs, args, out):
    """{'epochs': [{'epoch', 'test_acc', 'wall_s'}], 'wall_s'} of one training process."""
    from vgg_gluon.training.recipes import parse_log_line
    cmd = [sys.executable, '-m', 'vgg_gluon.train', '--recipe', name, '--quiet', '--out', out]
    if epochs is not None:
        cmd += ['--epochs', str(epochs)]
    for flag, value in (('--train-samples', args.train_samples),
                        ('--test-samples', args.test_samples)):
        if value is not None:
            cmd += [flag, str(value)]
    env = dict(os.environ, PYTHONUNBUFFERED='1')  # each epoch line as it is printed
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    rows, lines = [], []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith('epoch '):
            record = parse_log_line(line)
            rows.append({'epoch': record['epoch'], 'test_acc': record['test_acc'],
                         'wall_s': time.perf_counter() - start, 'line': line.strip()})
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}: {err.strip()[-500:]}")
    wall = time.perf_counter() - start
    if args.keep:
        with open(out + '.log', 'w') as f:
            f.writelines(lines)
    return {'command': ' '.join(cmd[1:]), 'epochs': rows, 'wall_s': wall}


def first_reached(rows, target):
    """(wall seconds, epoch) of the first row at or above ``target``, or (None, None)."""
    for row in rows:
        if row['test_acc'] >= target:
            return row['wall_s'], row['epoch']
    return None, None


def format_table(report):
    targets = report['targets']
    head = f"{'recipe':<9}{'epochs':>7}{'final acc':>10}{'wall s':>8}" + ''.join(
        f"{'to ' + format(t, '.2f'):>15}" for t in targets)
    lines = [head]
    for name, run in report['runs'].items():
        rows = run['epochs']
        cells = []
        for t in targets:
            seconds, epoch = first_reached(rows, t)
            cells.append('-' if seconds is None else f"{seconds:.0f} s (ep {epoch})")
        lines.append(f"{name:<9}{len(rows):>7}{rows[-1]['test_acc']:>10.3f}"
                     f"{run['wall_s']:>8.0f}" + ''.join(f"{c:>15}" for c in cells))
    return '\n'.join(lines)


def format_report(report):
    """What the benchmark printed as text: how and where it ran, the table, the epochs."""
    from vgg_gluon.training.measure import load_average
    load = load_average(report['load_at_start'])
    lines = [f"# {report['command']}",
             f"# started {report['started']}, ended {report['ended']}; {report['machine']}; "
             f"load average at start: {load}",
             "# each recipe in a fresh process one after another; wall time from process start "
             "(start-up, data, every evaluation included)",
             format_table(report), '', "# the runs' epoch lines:"]
    for name, run in report['runs'].items():
        lines += [f'## {name}'] + [row['line'] for row in run['epochs']]
    return '\n'.join(lines)


def main(argv=None):
    from vgg_gluon.cli.arguments import int_arg
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--recipes', default=','.join(RECIPES),
                   help=f"comma-separated, in the order run (default {','.join(RECIPES)})")
    p.add_argument('--epochs', type=_epochs_arg, default={},
                   help="N for every recipe or NAME=N,... (default: each recipe's own)")
    p.add_argument('--train-samples', type=int_arg('a positive integer'), default=None)
    p.add_argument('--test-samples', type=int_arg('a positive integer'), default=None)
    p.add_argument('--keep', metavar='DIR', default=None,
                   help='keep each run directory as DIR/NAME and its output as DIR/NAME.log')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    from vgg_gluon.training.recipes import RECIPES as KNOWN
    names = args.recipes.split(',')
    unknown = [n for n in names + [k for k in args.epochs if k != '*'] if n not in KNOWN]
    if unknown:
        p.error(f"--recipes/--epochs: unknown recipe {unknown[0]!r}; choose from "
                f"{', '.join(KNOWN)}")
    from vgg_gluon.training.measure import command_line, machine, utc_now
    report = {'command': command_line('benchmarks.time_to_accuracy', argv),
              'machine': machine(), 'load_at_start': list(os.getloadavg()),
              'started': utc_now(), 'targets': list(TARGETS), 'runs': {}}
    if args.keep and os.path.exists(args.keep) and os.listdir(args.keep):
        p.error(f"--keep: {args.keep} exists and is not empty")
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or tmp
        os.makedirs(where, exist_ok=True)
        for name in names:
            epochs = args.epochs.get(name, args.epochs.get('*'))
            report['runs'][name] = run_recipe(name, epochs, args, os.path.join(where, name))
    report['ended'] = utc_now()
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
