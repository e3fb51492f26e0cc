"""Every setting is validated wherever it is read (issue 26, item 5): a config.json
edited by hand is refused in one line by each command that reads it, and a value
MXNet itself refuses inside a training step is one line that says what is saved.

The run directories are real; the commands run as real processes where what
they print matters (MXNet's C++ could print more than Python sees)."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from vgg_gluon import evaluate, export, predict, train
from vgg_gluon.checkpoint import reader

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TINY = ['--arch', '1x32,1x64', '--ratio', '8', '--scale-dense', '--resize', '32',
        '--batch-size', '64', '--train-samples', '128', '--test-samples', '64', '--quiet',
        '--gpus', 'cpu']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory, fmnist_dir):
    out = str(tmp_path_factory.mktemp('settings') / 'run')
    assert train.main(TINY + ['--epochs', '1', '--out', out]) == 0
    return out


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('image') / 'grey.png')
    Image.new('L', (28, 28), 128).save(path)
    return path


def _edited(run, tmp_path, field, value):
    """A copy of ``run`` whose config.json, and the manifest's copy of it, say
    ``field: value`` (as a hand edit of both would)."""
    copy = str(tmp_path / 'edited')
    shutil.copytree(run, copy)
    for name, inner in (('config.json', None), ('checkpoint.json', 'config')):
        path = os.path.join(copy, name)
        with open(path) as f:
            values = json.load(f)
        (values[inner] if inner else values)[field] = value
        with open(path, 'w') as f:
            json.dump(values, f)
    return copy


def _commands(run_dir, image, tmp_path):
    return {'resume': ['vgg_gluon.train', '--resume', run_dir, '--epochs', '2'],
            'evaluate': ['vgg_gluon.evaluate', run_dir, '--gpus', 'cpu', '--test-samples', '32',
                         '--out', str(tmp_path / 'eval')],
            'predict': ['vgg_gluon.predict', run_dir, image, '--gpus', 'cpu'],
            'export': ['vgg_gluon.export', run_dir, '--out', str(tmp_path / 'export')]}


# a wrong type (a string, a bool, a float, a list where another type belongs), and
# values of the right type that MXNet cannot take or the run directory cannot hold
BAD = [('seed', 'x'), ('seed', 1.5), ('quiet', 'yes'), ('hybridize', 1), ('amp', 'false'),
       ('ratio', 8.0), ('epochs', 2.0), ('resize', [32]), ('arch', ['1x32', '1x64']),
       ('optimizer', ['sgd']), ('gpus', 0), ('lr', 'x'), ('lr', True), ('lr', 1e-50),
       ('lr', 1e39), ('wd', 1e39), ('momentum', 1e-50), ('dropout', 1e-50),
       ('label_smoothing', 1e-50), ('lr_factor', 1e-50), ('epochs', 10 ** 30),
       ('batch_size', 10 ** 30), ('train_samples', 10 ** 30), ('test_samples', 10001),
       ('lr_steps', '1'), ('scale_jitter', '32,64'), ('extra', []),
       ('extra', {'overrides': 5}), ('extra', {'later': 1}), ('resize', 1000000000)]


@pytest.mark.parametrize('field, value', BAD, ids=[f'{f}={v!r:.20}' for f, v in BAD])
def test_every_command_refuses_a_bad_saved_setting(field, value, tiny_run, image, tmp_path,
                                                   capsys):
    run_dir = _edited(tiny_run, tmp_path, field, value)
    before = {n: os.path.getsize(os.path.join(run_dir, n)) for n in os.listdir(run_dir)}
    mains = {'resume': train, 'evaluate': evaluate, 'predict': predict, 'export': export}
    for name, argv in _commands(run_dir, image, tmp_path).items():
        assert mains[name].main(argv[1:]) == 2, name
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and f'{field}:' in err, (name, err)
    assert before == {n: os.path.getsize(os.path.join(run_dir, n)) for n in os.listdir(run_dir)}
    assert not (tmp_path / 'eval').exists() and not (tmp_path / 'export').exists()


@pytest.mark.slow
def test_a_bad_saved_setting_is_one_line_in_real_processes(tiny_run, image, tmp_path):
    run_dir = _edited(tiny_run, tmp_path, 'seed', 'x')
    for name, argv in _commands(run_dir, image, tmp_path).items():
        proc = subprocess.run([sys.executable, '-m', *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 2, (name, proc.stderr)
        assert proc.stderr.count('\n') == 1 and 'Traceback' not in proc.stderr, proc.stderr
        assert f"{run_dir}/config.json: seed: must be an integer from 0 to 2**32 - 1, got 'x'" \
            in proc.stderr, proc.stderr


@pytest.mark.slow
def test_an_mxnet_error_inside_a_step_is_one_line(tmp_path, fmnist_dir):
    """The step schedule takes a rate of 1e-20 to 1e-50 after epoch 1, which
    MXNet's float32 operator refuses: one line, epoch 1 saved and loadable."""
    out = str(tmp_path / 'run')
    proc = subprocess.run([sys.executable, '-m', 'vgg_gluon.train', *TINY, '--epochs', '2',
                           '--lr', '1e-20', '--lr-schedule', 'step', '--lr-steps', '1',
                           '--lr-factor', '1e-30', '--out', out],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count('\n') == 1 and 'Traceback' not in proc.stderr, proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("python -m vgg_gluon.train: error: MXNet failed in epoch 2: "
                           "Out of range value for lr, value='1e-50'"), line
    assert line.endswith(f"; epoch 1 is saved in {out}; continue (with another --lr if the "
                         f"rate is at fault): python -m vgg_gluon.train --resume {out}"), line
    assert reader.read_checkpoint(out)['epoch'] == 1
    assert evaluate.main([out, '--gpus', 'cpu', '--test-samples', '32',
                          '--out', str(tmp_path / 'eval')]) == 0
