"""MkDocs hooks: the pages that must not drift from the code or the results.

A page marks where generated text goes with an HTML comment on a line of its
own; ``on_page_markdown`` replaces it:

    <!-- generated: cli -->             every command's --help, from its argparse parser
    <!-- generated: results -->         the results table (results/*/measured.json)
    <!-- generated: results-runs -->    every recorded run: command, date, CPU, files
    <!-- generated: benchmarks -->      every benchmarks/results/ file and its header lines

The same functions give the README's results table; tests/docs/ check both
against what the commands print and what results/ holds.
"""
import contextlib
import importlib
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
HELP_COLUMNS = '100'   # argparse wraps --help to $COLUMNS: one width for the page and the tests
# the README's one table: the book's recipe, the quick one and the accurate one
TABLE_RECIPES = ('seed000', 'fast', 'best')
RECIPE_LINES = {
    'seed000': "the book's (seed document 000): VGG-11/4, 96 px, SGD, 5 epochs",
    'fast': 'VGG-11-BN/4, first four blocks, 28 px, 1 epoch',
    'best': 'VGG-13-BN/2, 32 px, 15 epochs',
}


# ---------------------------------------------------------------- the command line

def commands():
    """[(name, one-line description)] of every ``vgg-gluon`` command, in the CLI's order."""
    from vgg_gluon.__main__ import COMMANDS
    return list(COMMANDS.items())


@contextlib.contextmanager
def _columns(width):
    old = os.environ.get('COLUMNS')
    os.environ['COLUMNS'] = width
    try:
        yield
    finally:
        if old is None:
            os.environ.pop('COLUMNS', None)
        else:
            os.environ['COLUMNS'] = old


def command_help(name):
    """The text ``python -m vgg_gluon.NAME --help`` prints (at HELP_COLUMNS), or None
    for a command without a parser of its own (horovodrun passes everything on)."""
    module = importlib.import_module(f'vgg_gluon.{name}')
    build = getattr(module, 'build_parser', None)
    if build is None:
        return None
    with _columns(HELP_COLUMNS):
        return build().format_help()


def usage_text():
    """What ``vgg-gluon`` alone (or ``python -m vgg_gluon --help``) prints."""
    from vgg_gluon.__main__ import usage
    return usage() + '\n'


def _fence(text):
    return '```text\n' + text.rstrip('\n') + '\n```\n'


def cli_markdown():
    """Markdown: the command list, then one section per command with its --help."""
    parts = ['## vgg-gluon\n', '`vgg-gluon COMMAND` and `python -m vgg_gluon.COMMAND` are the '
             'same command (the usage line names the one you ran).\n', _fence(usage_text())]
    for name, line in commands():
        parts.append(f'## {name}\n')
        text = command_help(name)
        if text is None:
            module = importlib.import_module(f'vgg_gluon.{name}')
            doc = (module.__doc__ or '').replace('``', '`').strip()
            parts.append(f'{line[:1].upper()}{line[1:]}. It has no flags of its own: '
                         f'everything after it goes to Horovod\'s `horovodrun` '
                         f'(`python -m vgg_gluon.{name} --help` prints horovodrun\'s, when '
                         f'Horovod is installed).\n')
            parts.append(_fence(doc))
        else:
            parts.append(_fence(text))
    return '\n'.join(parts)


# ---------------------------------------------------------------- the results

def measured(root=ROOT):
    """{recipe: its results/<recipe>/measured.json}, for every results folder that has one."""
    found = {}
    for path in sorted((pathlib.Path(root) / 'results').glob('*/measured.json')):
        found[path.parent.name] = json.loads(path.read_text())
    return found


def _final(run, epochs):
    acc = run['test_acc']
    return acc[str(epochs)] if str(epochs) in acc else acc[max(acc, key=int)]


def _accuracy(record):
    finals = [_final(run, record['epochs']) for run in record['runs']]
    if len(finals) == 1:
        return f'{finals[0]:.3f}'
    seeds = ', '.join(str(run['seed']) for run in record['runs'])
    return f'{min(finals):.3f}–{max(finals):.3f} (seeds {seeds})'


def _wall(record):
    walls = sorted({run['wall_seconds'] for run in record['runs']})
    text = ' / '.join(_seconds(w) for w in walls)
    return text + (' each' if len(record['runs']) > 1 and len(walls) == 1 else '')


def _seconds(s):
    return f'{s:,} s ({s / 60:.0f} min)' if s >= 120 else f'{s} s'


def _cpu(record):
    """The CPU as the run's own files name it (``cpu``, checked against them by
    tests/training/test_recipes.py), then what they leave out (``cpu_note``)."""
    note = record.get('cpu_note')
    return record['cpu'] + (f' ({note})' if note else '')


def results_table(root=ROOT, recipes=TABLE_RECIPES):
    """The Markdown table of the recipes' recorded runs: test accuracy at the last
    epoch, wall time, CPU and date, each from results/<recipe>/measured.json."""
    records = measured(root)
    lines = ['| recipe | what | test acc | wall time | CPU | date |',
             '|---|---|---:|---:|---|---|']
    for name in recipes:
        r = records[name]
        lines.append(f"| `{name}` | {RECIPE_LINES.get(name, '')} | {_accuracy(r)} | "
                     f"{_wall(r)} | {_cpu(r)} | {r['date']} |")
    return '\n'.join(lines) + '\n'


def runs_markdown(root=ROOT):
    """Markdown: every results/*/measured.json, its command, date, CPU and sources."""
    parts = []
    for name, r in measured(root).items():
        parts.append(f'### `{name}`\n')
        parts.append(f"- command: `{r['command']}`")
        parts.append(f"- date: {r['date']}; CPU: {_cpu(r)}; epochs: {r['epochs']}")
        for run in r['runs']:
            parts.append(f"- seed {run['seed']}: started {run['started']}, ended {run['ended']}, "
                         f"{_seconds(run['wall_seconds'])}; test accuracy by epoch "
                         + ', '.join(f'{k}: {v:.3f}' for k, v in run['test_acc'].items()))
        parts.append('- from: ' + ', '.join(f'`{f}`' for f in r['source_files']) + '\n')
    return '\n'.join(parts)


def benchmarks_markdown(root=ROOT):
    """Markdown: one row per benchmarks/results/ file, with the comment lines that open
    it (its command, start and machine), so that the list cannot go out of date."""
    lines = ['| file | what its first lines say |', '|---|---|']
    for path in sorted((pathlib.Path(root) / 'benchmarks' / 'results').glob('*.txt')):
        head = [line.lstrip('#').strip() for line in path.read_text().splitlines()[:3]
                if line.startswith('#')]
        said = '; '.join(head).replace('|', '\\|').replace('`', "'")
        lines.append(f'| `{path.name}` | {said} |')
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------- MkDocs

GENERATED = {
    '<!-- generated: cli -->': cli_markdown,
    '<!-- generated: results -->': results_table,
    '<!-- generated: results-runs -->': runs_markdown,
    '<!-- generated: benchmarks -->': benchmarks_markdown,
}


def on_startup(command, dirty):
    # the package from this checkout, whichever Python runs mkdocs
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def on_config(config):
    """Every notebook in the navigation: one added to notebooks/ after the nav was written
    goes under Notebooks, named by its file, rather than failing the strict build."""
    section = next(item['Notebooks'] for item in config['nav']
                   if isinstance(item, dict) and 'Notebooks' in item)
    listed = {next(iter(entry.values())) for entry in section}
    for path in sorted((ROOT / 'notebooks').glob('*.ipynb')):
        uri = f'notebooks/{path.name}'
        if uri not in listed:
            section.append({path.stem.replace('_', ' '): uri})
    # the network-safety page, beside Several machines, once it is written
    pages = [next(iter(item.values())) for item in config['nav'] if isinstance(item, dict)]
    if (ROOT / 'docs' / 'networks.md').exists() and 'networks.md' not in pages:
        at = pages.index('machines.md') + 1
        config['nav'].insert(at, {'Networks: what a job trusts': 'networks.md'})
    return config


def on_page_markdown(markdown, page, config, files):
    for marker, make in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
