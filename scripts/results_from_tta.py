"""Write results/fast/ from a committed time-to-accuracy report and its kept runs.

    .venv/bin/python scripts/results_from_tta.py benchmarks/results/DATE_time_to_accuracy.txt runs/tta

The report (``python -m benchmarks.time_to_accuracy --recipes seed000,fast
--seeds fast=0,1,2 --keep DIR``, its output saved) gives each run's command,
start, end and epoch lines; DIR holds the runs themselves. This writes
``results/fast/``: ``measured.json`` (every figure read from the report, which
it names as its source), ``command.txt`` (each seed's command and times),
and the seed-0 run's ``config.json``, ``metrics.jsonl`` and ``log.txt``. A ``shipped`` entry already in
measured.json is kept.
"""
import json
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE, REFERENCE = 'fast', 'seed000'


def parse_report(text):
    """{'command', 'started', 'ended', 'machine', 'runs': {label: {...}}, 'table': {label: wall}}."""
    head = text.splitlines()
    command = head[0][2:]
    started, ended, cpu = re.match(r'# started (\S+), ended (\S+); (.*?); load average', head[1]).groups()
    runs = {}
    for block in re.split(r'^## ', text, flags=re.M)[1:]:
        first, *lines = block.splitlines()
        label, rest = first.split(': ', 1)
        run_started, run_ended = re.search(r'started (\S+), ended (\S+)$', rest).groups()
        seed = re.search(r'--seed (\d+)', rest)
        runs[label] = {'command': rest.rsplit('; started', 1)[0], 'started': run_started,
                       'ended': run_ended, 'seed': int(seed.group(1)) if seed else 0,
                       'test_acc': {m.group(1): float(m.group(2)) for m in (
                           re.search(r'^epoch (\d+), .*test acc ([\d.]+)', line) for line in lines)
                           if m}}
    table = {}
    for line in head:
        m = re.match(r'^(\S+(?: s\d+)?)\s+(\d+)\s+([\d.]+)\s+(\d+)\s', line)
        if m and m.group(1) in runs:
            table.setdefault(m.group(1), int(m.group(4)))
    # '# fast s0 / seed000 whole-process wall time: 17 / 913 = 1/52.4' (from unrounded times)
    fractions = dict(re.findall(r'^# (.+?) / \S+ whole-process wall time: .* = (1/[\d.]+)$', text, re.M))
    return {'command': command, 'started': started, 'ended': ended, 'cpu': cpu, 'runs': runs,
            'table': table, 'fractions': fractions}


def _seconds(stamp):
    import datetime
    return int(datetime.datetime.strptime(stamp, '%Y-%m-%dT%H:%M:%SZ').timestamp())


STALE = ('seeds.txt', 'learning_curve.png')


def _command_text(report, mine, source):
    """command.txt: each seed's command as typed, its times and the machine."""
    lines = [f"# from {source} ({report['command']}); {report['cpu']}"]
    for label, run in mine.items():
        lines.append(f"# {label}: started {run['started']}, ended {run['ended']}, "
                     f"whole process {report['table'][label]} s")
        lines.append(f"python -m vgg_gluon.train --recipe {RECIPE} --seed {run['seed']} "
                     f"--out runs/{RECIPE}_s{run['seed']}")
    return '\n'.join(lines) + '\n'


def main(argv=None):
    report_path, kept = (argv or sys.argv[1:])[:2]
    report = parse_report(open(report_path).read())
    source = os.path.relpath(os.path.abspath(report_path), ROOT)
    mine = {label: run for label, run in report['runs'].items()
            if label.startswith(RECIPE + ' s')}
    epochs = max(int(e) for run in mine.values() for e in run['test_acc'])
    out = os.path.join(ROOT, 'results', RECIPE)
    path = os.path.join(out, 'measured.json')
    old = json.load(open(path)) if os.path.exists(path) else {}
    first = min(mine, key=lambda label: mine[label]['seed'])
    data = {
        'recipe': RECIPE, 'command': report['command'], 'date': report['started'][:10],
        'cpu': report['cpu'], 'epochs': epochs,
        'runs': [{'seed': run['seed'], 'started': run['started'], 'ended': run['ended'],
                  'wall_seconds': report['table'][label],
                  'test_acc': run['test_acc']} for label, run in mine.items()],
        'source_files': [source],
        'compared': {
            'recipe': REFERENCE, 'command': report['command'], 'date': report['started'][:10],
            'cpu': report['cpu'], 'started': report['started'], 'ended': report['ended'],
            'labels': {RECIPE: first, REFERENCE: REFERENCE},
            'wall_seconds': {RECIPE: report['table'][first], REFERENCE: report['table'][REFERENCE]},
            'fraction': report['fractions'][first],
            'test_acc': {RECIPE: mine[first]['test_acc'][str(epochs)],
                         REFERENCE: report['runs'][REFERENCE]['test_acc'][
                             max(report['runs'][REFERENCE]['test_acc'], key=int)]},
            'source_files': [source]},
    }
    if 'shipped' in old:
        data['shipped'] = old['shipped']
    os.makedirs(out, exist_ok=True)
    run_dir = os.path.join(kept, first.replace(' ', '_'))
    for name in ('config.json', 'metrics.jsonl'):
        shutil.copyfile(os.path.join(run_dir, name), os.path.join(out, name))
    shutil.copyfile(run_dir + '.log', os.path.join(out, 'log.txt'))
    with open(os.path.join(out, 'command.txt'), 'w') as f:
        f.write(_command_text(report, mine, source))
    for stale in STALE:  # an earlier recipe's files, which this report does not describe
        if os.path.exists(os.path.join(out, stale)):
            os.remove(os.path.join(out, stale))
    with open(path, 'w') as f:
        f.write(json.dumps(data, indent=2) + '\n')
    print(f"wrote {out}: {', '.join(sorted(os.listdir(out)))}")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
