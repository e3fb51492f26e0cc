"""The command line as Python tools have it: ``vgg-gluon COMMAND``, ``python -m
vgg_gluon``, ``--version``, ``--help`` without MXNet, argument groups with
every default shown once, no abbreviations, one registry of model names."""
import argparse
import json
import os
import pathlib
import subprocess
import sys

import pytest

from vgg_gluon import __main__ as entry
from vgg_gluon import evaluate, export, launch, predict, summary, testtime, train
from vgg_gluon.errors import VGGGluonError

COMMANDS = {'train': train, 'summary': summary, 'evaluate': evaluate, 'predict': predict,
            'export': export, 'testtime': testtime, 'launch': launch}
CONSOLE_SCRIPT = pathlib.Path(sys.executable).parent / 'vgg-gluon'


def _run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120)


def test_the_list_of_commands_is_every_command():
    assert set(entry.COMMANDS) == set(COMMANDS) | {'horovodrun', 'demo'}
    for name in entry.COMMANDS:
        assert callable(getattr(__import__(f'vgg_gluon.{name}', fromlist=['main']), 'main'))


@pytest.mark.slow
@pytest.mark.parametrize('start', [[sys.executable, '-m', 'vgg_gluon'], [str(CONSOLE_SCRIPT)]],
                         ids=['python -m vgg_gluon', 'vgg-gluon'])
def test_no_command_lists_the_commands_and_version_prints(start):
    proc = _run(*start)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith('  ')]
    assert listed == list(entry.COMMANDS)
    version = _run(*start, '--version')
    from vgg_gluon import __version__
    assert version.returncode == 0 and version.stdout.strip() == f'vgg_gluon {__version__}'
    version = _run(*start, 'train', '--version')
    assert version.returncode == 0 and version.stdout.strip() == f'vgg_gluon {__version__}'


@pytest.mark.slow
def test_the_console_script_runs_a_command_under_its_own_name():
    proc = _run(str(CONSOLE_SCRIPT), 'train', '--help')
    assert proc.returncode == 0 and proc.stdout.startswith('usage: vgg-gluon train')
    proc = _run(str(CONSOLE_SCRIPT), 'summary', '--arch', 'vgg99')
    assert proc.returncode == 2 and proc.stderr.startswith('vgg-gluon summary: error: --arch')
    proc = _run(str(CONSOLE_SCRIPT), 'trian')
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "unknown command 'trian'" in proc.stderr and 'train' in proc.stderr


@pytest.mark.slow
def test_help_does_not_load_mxnet():
    """Each --help in a fresh process: MXNet is never imported (it takes a second)."""
    code = ('import sys\nfrom vgg_gluon import {0}\ntry:\n    {0}.main(["--help"])\n'
            'except SystemExit as stop:\n    assert stop.code == 0\n'
            'print("mxnet" in sys.modules)\n')
    for name in COMMANDS:
        proc = _run(sys.executable, '-c', code.format(name))
        assert proc.returncode == 0, (name, proc.stderr)
        assert proc.stdout.strip().endswith('False'), name
    proc = _run(sys.executable, '-c', 'import sys, vgg_gluon.__main__; '
                'print("mxnet" in sys.modules)')
    assert proc.stdout.strip() == 'False', proc.stderr


def _options(parser):
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS]


@pytest.mark.parametrize('name', sorted(COMMANDS))
def test_every_flag_has_help_and_shows_its_default_once(name):
    parser = COMMANDS[name].build_parser()
    assert parser.allow_abbrev is False, name
    text = parser.format_help()
    assert not parser.description.startswith('`') and '``' not in text, name
    for action in _options(parser):
        assert action.help, (name, action.option_strings)
        shown = parser._get_formatter()._expand_help(action) if action.help else ''
        assert shown.count('default') <= 1, (name, action.option_strings, shown)
    for never in ('(default: None)', '(default: True)', '(default: False)'):
        assert never not in text, (name, never)


def test_train_help_comes_in_groups():
    titles = [g.title for g in train.build_parser()._action_groups]
    for title in ('model', 'data', 'optimisation', 'augmentation', 'run directory',
                  'devices and distributed training'):
        assert title in titles
    grouped = {a.dest for g in train.build_parser()._action_groups
               if g.title not in ('options', 'optional arguments') for a in g._group_actions}
    assert {'epochs', 'batch_size', 'seed', 'lr', 'arch', 'augment', 'out', 'kvstore'} <= grouped


@pytest.mark.parametrize('argv, flag', [
    (['--epoch', '3'], '--epoch'),        # not --epochs
    (['--batch', '8'], '--batch'),
    (['--lr-sched', 'cosine'], '--lr-sched'),
])
def test_abbreviations_are_refused(argv, flag, capsys):
    with pytest.raises(SystemExit) as stop:
        train.build_parser().parse_args(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f'unrecognized arguments: {flag}' in err


def test_horovod_outside_horovodrun_is_refused_like_dist_sync(tmp_path, monkeypatch, capsys):
    for name in ('HOROVOD_RANK', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK', 'DMLC_ROLE'):
        monkeypatch.delenv(name, raising=False)
    for flag in (['--horovod'], ['--kvstore', 'dist_sync']):
        out = tmp_path / flag[-1]
        assert train.main(flag + ['--train-samples', '64', '--test-samples', '64',
                                  '--resize', '32', '--ratio', '8', '--quiet',
                                  '--out', str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith(f'python -m vgg_gluon.train: error: {flag[0]}: '), err
        assert ('horovodrun' if flag == ['--horovod'] else 'launch') in err
        assert not out.exists()


def test_one_registry_of_model_names():
    from vgg_gluon import get_model, list_models
    from vgg_gluon.errors import ArchError
    names = list_models()
    assert names == sorted(names) and 'alexnet' in names and 'vgg16-bn' in names
    with pytest.raises(ArchError) as err:
        get_model('vgg99')
    assert all(name in str(err.value) for name in names)
    assert get_model('alexnet') is not None and get_model('1x8,1x16') is not None
    help_text = summary.build_parser().format_help().replace('\n', ' ')
    assert 'alexnet' in help_text


def test_summary_names_every_model_when_refusing_one(capsys):
    from vgg_gluon import list_models
    assert summary.main(['--arch', 'vgg99']) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert all(name in err for name in list_models())


def test_every_exception_is_a_vgg_gluon_error():
    from vgg_gluon import errors
    for kind in (errors.Error, errors.ConfigError, errors.ArchError, errors.DataError,
                 errors.CheckpointError, errors.ImageError, errors.LaunchError,
                 errors.TrainingDiverged, errors.SaveFailed, errors.Interrupted):
        assert issubclass(kind, VGGGluonError)
    assert issubclass(errors.Error, ValueError)            # bad input is a ValueError too
    assert not issubclass(errors.Interrupted, Exception)   # a stop passes `except Exception`
    assert errors.Interrupted(15).exit_status == 143 and errors.SaveFailed('x').exit_status == 74


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('cli') / 'run'
    assert train.main(['--arch', '1x8,1x16', '--ratio', '1', '--resize', '32', '--epochs', '1',
                       '--train-samples', '128', '--test-samples', '64', '--batch-size', '64',
                       '--optimizer', 'adam', '--lr', '0.001', '--quiet',
                       '--out', str(out)]) == 0
    return str(out)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['evaluate', 'predict', 'export', 'testtime'])
@pytest.mark.parametrize('guard, words', [
    (['--arch', 'vgg16'], '--arch: '),
    (['--ratio', '4'], '--ratio: '),
    (['--arch', 'vgg99'], 'alexnet'),
    (['--epoch', 'first'], "argument --epoch: invalid choice: 'first'"),
])
def test_every_run_dir_command_has_the_same_guards(name, guard, words, tiny_run, tmp_path,
                                                   capsys):
    extra = {'predict': [str(tmp_path / 'x.png')], 'evaluate': ['--out', str(tmp_path / 'e')],
             'export': ['--out', str(tmp_path / 'x')]}.get(name, [])
    try:
        status = COMMANDS[name].main([tiny_run] + guard + extra)
    except SystemExit as stop:
        status = stop.code
    assert status == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert 'Traceback' not in err and not os.listdir(tmp_path)


@pytest.mark.slow
def test_evaluate_reports_the_epoch_it_loaded(tiny_run, tmp_path, capsys):
    assert evaluate.main([tiny_run, '--test-samples', '64', '--out', str(tmp_path)]) == 0
    assert '(epoch 1, ' in capsys.readouterr().out
    assert json.loads((tmp_path / 'evaluation.json').read_text())['epoch'] == 1
