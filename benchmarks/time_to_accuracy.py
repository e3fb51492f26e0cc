"""Wall time to a test accuracy: the seed's recipe against ``fast`` and ``best``.

    python -m benchmarks.time_to_accuracy                                # all three, in full
    python -m benchmarks.time_to_accuracy --recipes seed000,fast --seeds fast=0,1,2
    python -m benchmarks.time_to_accuracy --recipes seed000,fast --epochs seed000=2
    python -m benchmarks.time_to_accuracy --recipes fast --ablation      # what each part adds
    python -m benchmarks.time_to_accuracy --train-samples 512 --test-samples 256 --epochs 1
    python -m benchmarks.time_to_accuracy --recipes fast --keep runs/tta   # keep the runs

Each run is ``python -m vgg_gluon.train --recipe NAME`` in a fresh process,
one after the other, evaluated on the test images after every epoch (as
train_ch5 does). The clock starts when the process is started, so start-up,
reading and resizing the data and every evaluation count. For each target
accuracy the table gives the wall time of the first epoch whose test accuracy
reached it (``-``: not within the epochs run). With seed000 among the recipes,
every other run's whole-process wall time is given as a fraction of its.

``--ablation`` adds the runs of ``ABLATION``: the ``fast`` recipe with one
part taken away or changed each, so that each row's difference from ``fast``
is what that part adds.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from ._args import Parser
from .bench_train import ROOT

TARGETS = (0.85, 0.88, 0.89, 0.90, 0.92)
RECIPES = ('seed000', 'fast', 'best')
REFERENCE = 'seed000'
# (label, flags over --recipe fast): one part of the recipe each, taken away or changed
ABLATION = (
    ('fast', ()),
    ('- flip TTA', ('--tta', 'none')),
    ('- label smoothing', ('--label-smoothing', '0')),
    ('- flip augmentation', ('--augment', 'none')),
    ('- one-cycle (constant lr)', ('--lr-schedule', 'constant', '--lr', '0.05')),
    ('- Nesterov momentum (SGD)', ('--optimizer', 'sgd', '--momentum', '0')),
    ('VGG-11, 32 px (5 blocks)', ('--arch', 'vgg11-bn', '--resize', '32')),
    ('+ dropout 0.5', ('--dropout', '0.5')),
    ('2 epochs', ('--epochs', '2')),
)


def _per_recipe(kind, parse):
    """An argparse type: 'VALUE' (every recipe) or 'NAME=VALUE,...' -> {name or '*': value}."""
    import argparse

    def parse_arg(text):
        try:
            if '=' not in text:
                return {'*': parse(text)}
            return {name: parse(value) for name, value in _split_pairs(text)}
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {kind} or NAME={kind},... (e.g. seed000=2,best=3), got {text!r}") from None
    return parse_arg


def _split_pairs(text):
    """'fast=0,1,2,seed000=0' -> [('fast', '0,1,2'), ('seed000', '0')]."""
    pairs = []
    for part in text.split(','):
        if '=' in part:
            name, value = part.split('=', 1)
            pairs.append([name, value])
        elif pairs:
            pairs[-1][1] += ',' + part
        else:
            raise ValueError(text)
    return pairs


def _seeds(text):
    seeds = [int(s) for s in text.split(',')]
    if not seeds or min(seeds) < 0:
        raise ValueError(text)
    return seeds


def _epochs(text):
    epochs = int(text)
    if epochs < 1:
        raise ValueError(text)
    return epochs


def run_recipe(name, args, out, epochs=None, seed=None, flags=()):
    """{'recipe', 'seed', 'command', 'epochs': [{'epoch', 'test_acc', 'wall_s', 'line'}],
    'wall_s', 'started', 'ended'} of one training process (``flags`` added after the recipe)."""
    from vgg_gluon.training.recipes import parse_log_line
    cmd = [sys.executable, '-m', 'vgg_gluon.train', '--recipe', name, '--quiet', '--out', out]
    cmd += list(flags)
    for flag, value in (('--epochs', epochs), ('--seed', seed),
                        ('--train-samples', args.train_samples),
                        ('--test-samples', args.test_samples)):
        if value is not None:
            cmd += [flag, str(value)]
    from vgg_gluon.training.measure import utc_now
    env = dict(os.environ, PYTHONUNBUFFERED='1')  # each epoch line as it is printed
    started = utc_now()
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
    ended = utc_now()
    if args.keep:
        with open(out + '.log', 'w') as f:
            f.writelines(lines)
    return {'recipe': name, 'seed': seed, 'command': ' '.join(cmd[1:]), 'epochs': rows,
            'wall_s': wall, 'started': started, 'ended': ended}


def first_reached(rows, target):
    """(wall seconds, epoch) of the first row at or above ``target``, or (None, None)."""
    for row in rows:
        if row['test_acc'] >= target:
            return row['wall_s'], row['epoch']
    return None, None


def format_table(runs, targets):
    """One row per run: label, epochs, final accuracy, wall time, time to each target."""
    width = max([9] + [len(label) + 1 for label in runs])
    head = f"{'run':<{width}}{'epochs':>7}{'final acc':>10}{'wall s':>8}" + ''.join(
        f"{'to ' + format(t, '.2f'):>15}" for t in targets)
    lines = [head]
    for label, run in runs.items():
        rows = run['epochs']
        cells = []
        for t in targets:
            seconds, epoch = first_reached(rows, t)
            cells.append('-' if seconds is None else f"{seconds:.0f} s (ep {epoch})")
        lines.append(f"{label:<{width}}{len(rows):>7}{rows[-1]['test_acc']:>10.3f}"
                     f"{run['wall_s']:>8.0f}" + ''.join(f"{c:>15}" for c in cells))
    return '\n'.join(lines)


def ratios(runs):
    """'LABEL / seed000 ...' lines: each run's whole-process wall time against the
    reference recipe's (none without it)."""
    reference = next((r for r in runs.values() if r['recipe'] == REFERENCE), None)
    if reference is None:
        return []
    lines = []
    for label, run in runs.items():
        if run is not reference:
            lines.append(f"# {label} / {REFERENCE} whole-process wall time: {run['wall_s']:.0f} / "
                         f"{reference['wall_s']:.0f} = 1/{reference['wall_s'] / run['wall_s']:.1f}")
    return lines


def format_report(report):
    """What the benchmark printed as text: how and where it ran, the tables, the epochs."""
    from vgg_gluon.training.measure import load_average
    load = load_average(report['load_at_start'])
    lines = [f"# {report['command']}",
             f"# started {report['started']}, ended {report['ended']}; {report['machine']}; "
             f"load average at start: {load}",
             "# each run in a fresh process one after another; wall time from process start "
             "(start-up, data, every evaluation included)",
             format_table(report['runs'], report['targets']), ''] + ratios(report['runs'])
    if report.get('ablation'):
        lines += ['', "# ablation: the fast recipe with one part taken away or changed "
                      "(seed 0 each; flags after --recipe fast)",
                  format_table(report['ablation'], report['targets'])]
        lines += [f"#   {label}: {' '.join(ABLATION_FLAGS.get(label, ())) or '(as it is)'}"
                  for label in report['ablation']]
    lines += ['', "# the runs' epoch lines:"]
    for label, run in list(report['runs'].items()) + list(report.get('ablation', {}).items()):
        lines += [f"## {label}: {run['command']}; started {run['started']}, ended {run['ended']}"]
        lines += [row['line'] for row in run['epochs']]
    return '\n'.join(lines)


ABLATION_FLAGS = dict(ABLATION)


def main(argv=None):
    from vgg_gluon.cli.arguments import int_arg
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('--recipes', default=','.join(RECIPES),
                   help=f"comma-separated, in the order run (default {','.join(RECIPES)})")
    p.add_argument('--epochs', type=_per_recipe('N', _epochs), default={},
                   help="N for every recipe or NAME=N,... (default: each recipe's own)")
    p.add_argument('--seeds', type=_per_recipe('S,S,...', _seeds), default={},
                   help="S,S,... for every recipe or NAME=S,S,...,NAME=... : one run per seed "
                        "(default: one run, the recipe's seed)")
    p.add_argument('--ablation', action='store_true',
                   help="then run the fast recipe with each part taken away (ABLATION)")
    p.add_argument('--train-samples', type=int_arg('a positive integer'), default=None)
    p.add_argument('--test-samples', type=int_arg('a positive integer'), default=None)
    p.add_argument('--keep', metavar='DIR', default=None,
                   help='keep each run directory as DIR/LABEL and its output as DIR/LABEL.log')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    from vgg_gluon.training.recipes import RECIPES as KNOWN
    names = args.recipes.split(',')
    named = [k for option in (args.epochs, args.seeds) for k in option if k != '*']
    unknown = [n for n in names + named if n not in KNOWN]
    if unknown:
        p.error(f"--recipes/--epochs/--seeds: unknown recipe {unknown[0]!r}; choose from "
                f"{', '.join(KNOWN)}")
    if args.keep and os.path.exists(args.keep) and os.listdir(args.keep):
        p.error(f"--keep: {args.keep} exists and is not empty")
    from vgg_gluon.training.measure import command_line, machine, utc_now
    report = {'command': command_line('benchmarks.time_to_accuracy', argv),
              'machine': machine(), 'load_at_start': list(os.getloadavg()),
              'started': utc_now(), 'targets': list(TARGETS), 'runs': {}}
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or tmp
        os.makedirs(where, exist_ok=True)
        for name in names:
            epochs = args.epochs.get(name, args.epochs.get('*'))
            seeds = args.seeds.get(name, args.seeds.get('*'))
            for seed in seeds or [None]:
                label = name if seeds is None else f"{name} s{seed}"
                report['runs'][label] = run_recipe(name, args, os.path.join(where, label.replace(' ', '_')),
                                                   epochs, seed)
        if args.ablation:
            report['ablation'] = {}
            for i, (label, flags) in enumerate(ABLATION):
                report['ablation'][label] = run_recipe(
                    'fast', args, os.path.join(where, f'ablation{i}'),
                    args.epochs.get('fast', args.epochs.get('*')), 0, flags)
    report['ended'] = utc_now()
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
