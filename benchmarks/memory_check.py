"""The memory estimate against what training really adds to peak resident memory (CPU).

    python -m benchmarks.memory_check            # the configurations below (~5 min on 2 cores)
    python -m benchmarks.memory_check --quick    # the three small ones tests/training/test_memory.py checks

For each configuration: ``python -m vgg_gluon.summary ... --batch-size N``'s
total (``memory.estimate``) and the growth of the peak resident set size
(VmHWM) of a fresh process that reads a slice of Fashion-MNIST, then builds
the network and trains it for three short epochs with an evaluation between
them (``measure.peak_growth``), and their ratio. The process's size before
training (Python, MXNet, the data slice) is not part of either.
"""
import json
import sys
import time

import vgg_gluon  # noqa: F401  (before mxnet: every core)
from vgg_gluon.models.layer_table import summarize
from vgg_gluon.training.measure import machine, peak_growth
from vgg_gluon.training.memory import estimate

from ._args import Parser

# (arch, ratio, resize, batch_size, optimizer, momentum)
CONFIGS = [
    ('vgg11', 4, 96, 128, 'sgd', 0.0),     # the book's network and recipe
    ('vgg11', 4, 96, 128, 'sgd', 0.9),     # + momentum: one copy of the weights
    ('vgg11', 4, 96, 128, 'adam', 0.0),    # Adam: two copies
    ('vgg11', 4, 224, 32, 'sgd', 0.0),     # the book's 224 pixels (d2l-en)
    ('vgg11', 4, 224, 64, 'sgd', 0.0),
    ('vgg16-bn', 4, 96, 64, 'sgd', 0.0),
    ('alexnet', 1, 224, 128, 'sgd', 0.0),  # the book's AlexNet at its recipe
    ('vgg11', 1, 224, 16, 'sgd', 0.0),     # VGG-11 in full, the book's first printout
]
QUICK = [  # small enough for the test suite (under a minute together on 2 cores)
    ('vgg11', 4, 96, 128, 'sgd', 0.0),     # the book's network at its batch
    ('alexnet', 1, 224, 16, 'sgd', 0.0),
    ('vgg16-bn', 8, 64, 32, 'sgd', 0.0),
]


def summary_command(arch, ratio, resize, batch_size, optimizer, momentum):
    """The summary command that prints this configuration's estimate."""
    cmd = (f"python -m vgg_gluon.summary --arch {arch} --ratio {ratio} --resize {resize} "
           f"--batch-size {batch_size}")
    if optimizer != 'sgd':
        cmd += f" --optimizer {optimizer}"
    return cmd + (f" --momentum {momentum:g}" if momentum else '')


def check(config):
    """{'config', 'command', 'estimate_bytes', 'growth_bytes', 'before_bytes', 'ratio'}."""
    arch, ratio, resize, batch_size, optimizer, momentum = config
    memory = estimate(summarize(arch, ratio, resize), batch_size, optimizer, momentum)
    measured = peak_growth(dict(arch=arch, ratio=ratio, resize=resize, batch_size=batch_size,
                                optimizer=optimizer, momentum=momentum))
    return {'config': dict(zip(('arch', 'ratio', 'resize', 'batch_size', 'optimizer',
                                'momentum'), config)),
            'command': summary_command(*config), 'estimate_bytes': memory['total_bytes'],
            'growth_bytes': measured['growth_bytes'], 'before_bytes': measured['before_bytes'],
            'ratio': measured['growth_bytes'] / memory['total_bytes']}


def main(argv=None):
    p = Parser(prog='python -m benchmarks.memory_check', description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='only the three small configurations')
    p.add_argument('--json', action='store_true', help='print JSON instead of the table')
    args = p.parse_args(argv)
    started = time.strftime('%Y-%m-%d %H:%M %Z')
    rows = []
    for config in QUICK if args.quick else CONFIGS:
        rows.append(check(config))
        if not args.json:
            r, mib = rows[-1], 2 ** 20
            print(f"| `{r['command']}` | {r['estimate_bytes'] / mib:,.0f} MiB "
                  f"| {r['growth_bytes'] / mib:,.0f} MiB | {r['ratio']:.2f} |", flush=True)
    report = {'date': started, 'machine': machine(), 'rows': rows}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"\nestimate: the summary command's total; measured: peak RSS growth of a fresh "
              f"process over build + 3 epochs of 2 batches with an evaluation between them; "
              f"{started}; {report['machine']}; process size before training "
              f"{min(r['before_bytes'] for r in rows) / 2 ** 20:,.0f}-"
              f"{max(r['before_bytes'] for r in rows) / 2 ** 20:,.0f} MiB")
    return 0


if __name__ == '__main__':
    sys.exit(main())
