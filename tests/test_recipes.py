"""Recipes by name: `python -m vgg_gluon.train --recipe NAME`, flags given override it."""
import json

import pytest

from vgg_gluon.config import Config
from vgg_gluon.recipes import DEFAULT, RECIPES, describe, get_recipe, parse_log_line
from vgg_gluon.train import main, parse_config


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
def test_this_projects_recipes_say_what_they_measured_and_where(name):
    recipe = RECIPES[name]
    config = Config(**recipe.settings).validate()       # the toolkit's settings, all valid
    assert config.arch == {'fast': 'vgg11-bn', 'best': 'vgg13-bn'}[name] and config.resize == 32
    for word in ('test accuracy', 'python -m vgg_gluon.train --recipe ' + name, 'UTC', 'AMD EPYC'):
        assert word in recipe.measured, word
