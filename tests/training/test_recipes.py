"""Recipes by name: `python -m vgg_gluon.train --recipe NAME`, flags given override it."""
import calendar
import json
import re
import time
from pathlib import Path

import pytest

import vgg_gluon
from vgg_gluon.config import Config
from vgg_gluon.training import recipes
from vgg_gluon.training.recipes import (DEFAULT, RECIPES, describe, get_recipe, measured,
                                        parse_log_line)
from vgg_gluon.train import main, parse_config

CHECKOUT = Path(vgg_gluon.__file__).resolve().parents[1]
MEASURED = sorted(CHECKOUT.glob('results/*/measured.json'))


def test_the_three_seed_recipes_and_this_projects_two():
    assert list(RECIPES) == ['seed000', 'seed002', 'd2l-en', 'fast', 'best']
    assert RECIPES['seed002'].settings == dict(
        arch='vgg11', ratio=8, scale_dense=True, resize=224, epochs=5, lr=0.001,
        batch_size=64, optimizer='adam')
    assert RECIPES['d2l-en'].settings == dict(
        arch='vgg11', ratio=4, scale_dense=False, resize=224, epochs=10, lr=0.05,
        batch_size=128, optimizer='sgd')


def test_the_default_is_seed_000():
    defaults = Config()
    assert DEFAULT == 'seed000'
    assert all(getattr(defaults, k) == v for k, v in RECIPES['seed000'].settings.items())
    assert parse_config(['--recipe', 'seed000']).to_dict() == dict(
        parse_config([]).to_dict(), extra={'recipe': 'seed000', 'overrides': []})


@pytest.mark.parametrize('name', list(RECIPES))
def test_recipe_sets_its_settings(name):
    config = parse_config(['--recipe', name])
    for key, value in RECIPES[name].settings.items():
        assert getattr(config, key) == value, key
    assert config.extra == {'recipe': name, 'overrides': []}


def test_flags_given_override_the_recipe_even_at_their_defaults():
    # 96 and sgd are the parser's defaults: only knowing they were typed keeps them
    config = parse_config(['--recipe', 'seed002', '--resize', '96', '--optimizer', 'sgd',
                           '--epochs', '2', '--quiet'])
    assert (config.resize, config.optimizer, config.epochs) == (96, 'sgd', 2)
    assert (config.ratio, config.scale_dense, config.lr, config.batch_size) == (8, True, 0.001, 64)
    assert config.extra['overrides'] == ['epochs', 'optimizer', 'resize']


def test_unknown_recipe_is_one_line_exit_2_listing_the_names(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(['--recipe', 'vgg16-imagenet'])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and '--recipe' in err
    assert all(name in err for name in RECIPES)


def test_list_recipes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(['--list-recipes'])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for recipe in RECIPES.values():
        assert describe(recipe) in out
    assert 'PyTorch' in out   # seed 002's source is said to differ


def test_get_recipe_names_the_valid_ones():
    assert get_recipe('d2l-en') is RECIPES['d2l-en']
    with pytest.raises(KeyError, match='seed000, seed002, d2l-en, fast, best'):
        get_recipe('nope')


def test_seed_log_parses():
    log = [parse_log_line(line) for line in RECIPES['seed000'].log]
    assert [r['epoch'] for r in log] == [1, 2, 3, 4, 5]
    assert log[0] == dict(epoch=1, loss=1.2532, train_acc=0.554, test_acc=0.792, time=53.6)
    assert log[-1]['test_acc'] == 0.890
    with pytest.raises(ValueError):
        parse_log_line('training on gpu(0)')


@pytest.mark.slow
def test_cli_trains_a_recipe_with_overrides(tmp_path, fmnist_dir, capsys):
    """seed 002's network and optimiser, shrunk by flags to a quick run on real data."""
    out = tmp_path / 'run'
    status = main(['--recipe', 'seed002', '--resize', '32', '--train-samples', '1024',
                   '--test-samples', '256', '--epochs', '2', '--data-dir', fmnist_dir,
                   '--gpus', 'cpu', '--out', str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert printed.startswith('recipe seed002: ') and 'from seed 002' in printed
    assert 'overridden by flags: epochs=2, resize=32' in printed
    config = json.loads((out / 'config.json').read_text())
    assert (config['optimizer'], config['lr'], config['ratio'], config['scale_dense'],
            config['batch_size']) == ('adam', 0.001, 8, True, 64)
    assert config['extra'] == {'recipe': 'seed002', 'overrides': ['epochs', 'resize']}
    records = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    assert records[-1]['loss'] < records[0]['loss']          # it learned


@pytest.mark.parametrize('name', ['fast', 'best'])
def test_this_projects_recipes_are_valid_toolkit_settings(name):
    config = Config(**RECIPES[name].settings).validate()
    assert (config.arch, config.resize) == {'fast': ('1x64,1x128,2x256,2x512-bn', 28),
                                            'best': ('vgg13-bn', 32)}[name]


def _paragraphs(out):
    """--list-recipes' output -> {recipe name: its paragraph}."""
    return {m.group(1): m.group(0) for m in re.finditer(r'^recipe (\S+):.*?(?=^recipe |\Z)',
                                                         out, re.M | re.S)}


def test_list_recipes_shows_the_figures_of_the_committed_runs(capsys):
    with pytest.raises(SystemExit):
        main(['--list-recipes'])
    paragraphs = _paragraphs(capsys.readouterr().out)
    assert list(paragraphs) == list(RECIPES)
    for name in ('seed000', 'fast', 'best'):
        data, text = measured(name), paragraphs[name]
        assert data is not None, name
        for run in data['runs']:
            assert f"{run['test_acc'][str(data['epochs'])]:.3f}" in text
            assert f"{run['wall_seconds']}" in text
        for key in ('command', 'date', 'cpu'):
            assert data[key] in text, key
    # what the committed runs gave, as the project states them
    assert 'test acc 0.898, 0.900, 0.898 after 1 epochs' in paragraphs['fast']
    assert 'wall time 17, 17, 17 s' in paragraphs['fast']
    assert '17 s against 913 s (1/52.4), test acc 0.898 against 0.883' in paragraphs['fast']
    assert 'test acc 0.941 after 15 epochs' in paragraphs['best'] and '2658 s' in paragraphs['best']
    assert 'measured: none here' in paragraphs['seed002']


def test_describe_reads_the_measured_figures_from_the_file(tmp_path, monkeypatch):
    run = {'seed': 7, 'started': '2000-01-01T00:00:00Z', 'ended': '2000-01-01T00:00:42Z',
           'wall_seconds': 42, 'test_acc': {'3': 0.777}}
    data = {'recipe': 'fast', 'command': 'python -m somewhere', 'date': '2000-01-01',
            'cpu': 'a test CPU', 'epochs': 3, 'runs': [run], 'source_files': []}
    (tmp_path / 'fast').mkdir()
    (tmp_path / 'fast' / 'measured.json').write_text(json.dumps(data))
    assert measured('fast', tmp_path) == data
    monkeypatch.setattr(recipes, 'RESULTS_DIR', tmp_path)
    text = describe(RECIPES['fast'])
    assert ('measured: test acc 0.777 after 3 epochs (seed 7), wall time 42 s; '
            'python -m somewhere; 2000-01-01, a test CPU (results/fast/measured.json)') in text
    assert '0.918' not in text and 'against' not in text


def test_without_a_results_dir_list_recipes_says_so(tmp_path, monkeypatch, capsys):
    """An installed package has no results/ beside it: one phrase, not a failure."""
    monkeypatch.setattr(recipes, 'RESULTS_DIR', tmp_path / 'absent')
    assert measured('fast') is None
    with pytest.raises(SystemExit) as exit_:
        main(['--list-recipes'])
    assert exit_.value.code == 0
    paragraphs = _paragraphs(capsys.readouterr().out)
    assert paragraphs['fast'].endswith('measured: none here (no results/fast/measured.json)\n')
    assert all('none here' in text for text in paragraphs.values())
    assert '0.918' not in paragraphs['fast']


def _sources(data):
    files = [CHECKOUT / f for f in data['source_files']]
    assert files and all(f.is_file() for f in files), data['source_files']
    return '\n'.join(f.read_text() for f in files)


def _seconds(stamp):
    return calendar.timegm(time.strptime(stamp, '%Y-%m-%dT%H:%M:%SZ'))


def _stamped(stamp, text):
    """The UTC time appears in the source, as 2026-11-24T19:42:29Z or 2026-11-24 19:42:29."""
    return stamp in text or f"{stamp[:10]} {stamp[11:19]}" in text


def test_there_are_measured_files_to_check():
    assert {p.parent.name for p in MEASURED} >= {'seed000', 'fast', 'best'}


@pytest.mark.parametrize('path', MEASURED, ids=lambda p: p.parent.name)
def test_every_measured_figure_is_in_a_committed_file_of_its_run(path):
    data = json.loads(path.read_text())
    text = _sources(data)
    assert data['recipe'] == path.parent.name in RECIPES
    for key in ('command', 'date', 'cpu'):
        assert data[key] in text, key
    for run in data['runs']:
        assert f"seed {run['seed']}" in text or f'"seed": {run["seed"]}' in text
        assert _stamped(run['started'], text) and _stamped(run['ended'], text)
        # the stamps are to the second; the wall time is the process's own, rounded
        assert abs(run['wall_seconds'] - (_seconds(run['ended']) - _seconds(run['started']))) <= 1
        assert str(data['epochs']) in run['test_acc']
        for epoch, acc in run['test_acc'].items():
            assert f"epoch {epoch}, " in text and f"test acc {acc:.3f}" in text, (epoch, acc)
        if 'best_epoch' in run:
            assert f"best epoch {run['best_epoch']}" in text
        if 'epoch_seconds' in run:
            times = [parse_log_line(line)['time'] for line in text.splitlines()
                     if line.startswith('epoch ')]
            assert run['epoch_seconds'] == {'min': min(times), 'max': max(times)}


def test_a_comparison_is_the_benchmarks_table():
    data = measured('fast')
    other = data['compared']
    text = _sources(other)
    for key in ('command', 'date', 'cpu'):
        assert other[key] in text, key
    assert _stamped(other['started'], text) and _stamped(other['ended'], text)
    for name in ('fast', other['recipe']):
        label = re.escape(other.get('labels', {}).get(name, name))  # the table's row, e.g. 'fast s0'
        row = rf"^{label}\s+\d+\s+{other['test_acc'][name]:.3f}\s+{other['wall_seconds'][name]}\s"
        assert re.search(row, text, re.M), name
    if 'fraction' in other:
        assert f"{other['labels']['fast']} / {other['recipe']} whole-process wall time: " \
               f"{other['wall_seconds']['fast']} / {other['wall_seconds'][other['recipe']]} = " \
               f"{other['fraction']}\n" in text


LAB_NOTES = re.compile(r'\b20\d\d-\d\d-\d\d|\bEPYC\b|\bZen ?\d|\bXeon\b|\bRyzen\b|'
                       r'\bissue \d+|\bUTC\b.*\d\d:\d\d')


def test_no_library_module_carries_dates_cpus_or_tracker_references():
    found = [f"{path.relative_to(CHECKOUT)}:{number}: {line.strip()}"
             for path in sorted((CHECKOUT / 'vgg_gluon').rglob('*.py'))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if LAB_NOTES.search(line)]
    assert found == []
