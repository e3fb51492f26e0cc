"""How long each command's ``--help`` takes, beside Python's start and MXNet's import.

    python -m benchmarks.bench_help                    # every command, 5 runs each
    python -m benchmarks.bench_help --repeats 9 --python /path/to/other/checkout/.venv/bin/python

Each row is a fresh process, timed from start to exit (the median of the
runs), interleaved: one run of every row, then the next round, so that a
busy moment touches every row alike. The references are the same
interpreter doing nothing (``python -c pass``) and importing MXNet
(``python -c 'import mxnet'``); every row is also given as a ratio to the
MXNet import. ``--python`` times another interpreter's package (another
checkout's environment) in the same rounds, for a before/after.
"""
import statistics
import subprocess
import sys
import time

from ._args import Parser, at_least

COMMANDS = ('train', 'summary', 'evaluate', 'predict', 'export', 'testtime', 'launch')


def rows(pythons):
    """[(label, argv)]: the references, then each command under each interpreter."""
    found = [('python -c pass', [sys.executable, '-c', 'pass']),
             ('python -c "import mxnet"', [sys.executable, '-c', 'import vgg_gluon._compat, mxnet'])]
    for tag, python in pythons:
        found += [(f'{tag}{name} --help', [python, '-m', f'vgg_gluon.{name}', '--help'])
                  for name in COMMANDS]
        found.append((f'{tag}vgg-gluon (the list)', [python, '-m', 'vgg_gluon']))
    return found


def seconds(argv):
    """(wall seconds, exit status) of one run of ``argv``."""
    start = time.perf_counter()
    status = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    return time.perf_counter() - start, status


def main(argv=None):
    p = Parser(prog='python -m benchmarks.bench_help', description=__doc__.split('\n')[0])
    p.add_argument('--repeats', type=at_least(1), default=5)
    p.add_argument('--python', default=None,
                   help="another checkout's interpreter, timed beside this one")
    args = p.parse_args(argv)
    from vgg_gluon.training.measure import where_and_when
    pythons = [('', sys.executable)] + ([('other: ', args.python)] if args.python else [])
    table = rows(pythons)
    for _, command in table:   # once first: the page cache, .pyc files
        seconds(command)
    times = {label: [] for label, _ in table}
    statuses = {}
    for _ in range(args.repeats):
        for label, command in table:
            wall, statuses[label] = seconds(command)
            times[label].append(wall)
    print(where_and_when('benchmarks.bench_help', argv))
    if args.python:
        print(f"# this: {sys.executable}; other: {args.python}")
    mxnet = statistics.median(times['python -c "import mxnet"'])
    width = max(len(label) for label in times)
    for label, runs in times.items():
        median = statistics.median(runs)
        failed = f"; exit status {statuses[label]}" if statuses[label] else ''
        print(f"{label:<{width}}  {median:6.3f} s  ({median / mxnet:4.2f} x the MXNet import; "
              f"runs {min(runs):.3f}-{max(runs):.3f} s{failed})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
