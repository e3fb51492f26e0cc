"""Loading a run directory never runs code.

A run directory prepared by someone else, with its manifest rewritten to
match, holds pickles that create a marker file when unpickled, in place of
every file that is not a parameter file. ``--resume``, ``evaluate``,
``predict``, ``export`` and ``testtime`` each refuse it with one line and exit
status 2, and the marker is never created. A run directory of checkpoint
format 1 (optimizer states pickled, written only while the project was being
built) is refused in one line saying so. Nothing in the package can unpickle.
"""
import ast
import json
import os
import pathlib
import pickle
import shutil

import pytest
from PIL import Image

import mxnet as mx

from run_helpers import dir_hash, metrics, same_params
from vgg_gluon import evaluate, export, predict, testtime, train
from vgg_gluon.checkpoint import reader as rundir
from vgg_gluon.runtime.atomic import file_digest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'vgg_gluon'
ARGS = ['--arch', '1x32,1x64', '--ratio', '8', '--scale-dense', '--resize', '32',
        '--optimizer', 'adam', '--lr', '0.002', '--batch-size', '64',
        '--train-samples', '600', '--test-samples', '100', '--quiet']


class _Bomb:
    """Unpickling this opens ``marker`` for writing, creating it: what a hostile
    pickle could do (any call at all), made harmless and visible."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _plant(path, marker):
    with open(path, 'wb') as f:
        f.write(pickle.dumps({'states': _Bomb(marker), 'note': 'not what it claims'}))


@pytest.fixture(scope='module')
def runs(tmp_path_factory, fmnist_dir):
    """{'three': an uninterrupted 3-epoch run, 'one': its first epoch alone}."""
    base = tmp_path_factory.mktemp('nopickle')
    out = {'three': str(base / 'three'), 'one': str(base / 'one')}
    assert train.main(ARGS + ['--epochs', '3', '--out', out['three']]) == 0
    assert train.main(ARGS + ['--epochs', '1', '--out', out['one']]) == 0
    return out


def _manifest(run_dir):
    with open(os.path.join(run_dir, rundir.MANIFEST)) as f:
        return json.load(f)


def _write_manifest(run_dir, manifest):
    """The manifest, with digests rewritten to match the files as they are now."""
    manifest['digests'] = {name: file_digest(os.path.join(run_dir, name))
                           for name in manifest['files'].values() if name is not None}
    with open(os.path.join(run_dir, rundir.MANIFEST), 'w') as f:
        json.dump(manifest, f)


def _states_path(run_dir):
    return os.path.join(run_dir, _manifest(run_dir)['files']['states'])


# ---- the ways to plant pickles: (what it does, the word the refusal contains) ----------

def _every_file(run_dir, marker):
    """config.json, metrics.jsonl and the optimizer states are pickles; the
    manifest is JSON whose digests match them."""
    for name in ('config.json', 'metrics.jsonl'):
        _plant(os.path.join(run_dir, name), marker)
    _plant(_states_path(run_dir), marker)
    _write_manifest(run_dir, _manifest(run_dir))
    return 3


def _manifest_too(run_dir, marker):
    """As _every_file, and the manifest itself is a pickle."""
    _every_file(run_dir, marker)
    _plant(os.path.join(run_dir, rundir.MANIFEST), marker)
    return 4


def _old_format(run_dir, marker):
    """A format-1 directory, as vgg_gluon wrote before: manifest version 1 naming
    a states file that is a pickle (here a hostile one) with a matching digest."""
    manifest = _manifest(run_dir)
    os.remove(_states_path(run_dir))
    name = manifest['files']['states'][:-len('.nd')]
    _plant(os.path.join(run_dir, name), marker)
    manifest.update(format_version=1, files={**manifest['files'], 'states': name})
    del manifest['optimizer']
    _write_manifest(run_dir, manifest)
    return 1


def _states_only(run_dir, marker):
    """A current-format directory whose states file alone is a pickle (digest matching)."""
    _plant(_states_path(run_dir), marker)
    _write_manifest(run_dir, _manifest(run_dir))
    return 1


PLANTS = {  # name: (planter, word in every refusal, commands that must refuse)
    'every-file': (_every_file, 'config.json: cannot read', 'all'),
    'manifest-too': (_manifest_too, 'config.json: cannot read', 'all'),
    'old-format': (_old_format, 'checkpoint format 1', 'all'),
    # evaluate, predict, export and testtime never open the states file
    'states-only': (_states_only, '--resume: ', 'resume'),
}


def _commands(run_dir, tmp_path, image):
    return {
        'resume': (train.main, ['--resume', run_dir, '--epochs', '4']),
        'evaluate': (evaluate.main, [run_dir, '--test-samples', '20',
                                     '--out', str(tmp_path / 'eval')]),
        'predict': (predict.main, [run_dir, image]),
        'export': (export.main, [run_dir, '--out', str(tmp_path / 'export')]),
        'testtime': (testtime.main, [run_dir, '--test-samples', '20']),
    }


@pytest.fixture
def image(fmnist, tmp_path):
    path = str(tmp_path / 'item.png')
    Image.fromarray(fmnist['test'][0][0]).save(path)
    return path


def test_the_planted_pickle_does_run_code_when_unpickled(tmp_path):
    """The bomb is live: were anything to unpickle it, the marker would appear."""
    marker, planted = tmp_path / 'marker', tmp_path / 'planted'
    _plant(str(planted), str(marker))
    pickle.loads(planted.read_bytes())
    assert marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize('plant', sorted(PLANTS))
def test_no_command_unpickles_a_planted_file(plant, runs, tmp_path, image, capsys):
    run_dir, marker = str(tmp_path / 'run'), str(tmp_path / 'marker')
    shutil.copytree(runs['three'], run_dir)
    planter, word, which = PLANTS[plant]
    assert planter(run_dir, marker) >= 1
    before = dir_hash(run_dir)
    commands = _commands(run_dir, tmp_path, image)
    refused = 0
    for name, (main, argv) in commands.items():
        if which != 'all' and name != which:
            continue
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err, (name, err)
        assert word in err, (name, err)
        assert plant != 'states-only' or 'not an MXNet NDArray file' in err, err
        assert not os.path.exists(marker), name
        refused += 1
    assert refused == (5 if which == 'all' else 1)
    assert dir_hash(run_dir) == before


# ---- the source: nothing in the package can unpickle ------------------------------

UNPICKLERS = {'pickle', 'cPickle', '_pickle', 'dill', 'cloudpickle', 'joblib', 'shelve',
              'marshal', 'jsonpickle'}
UNPICKLING_CALLS = {'load_states', 'set_states', 'load_optimizer_states'}


def _unsafe_loads(tree):
    """(line, what) of every import of a pickle module, every MXNet call that
    unpickles, and every np.load without allow_pickle=False."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, 'module', None) or '']
            for name in names:
                if name.split('.')[0] in UNPICKLERS:
                    yield node.lineno, f'import {name}'
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in UNPICKLING_CALLS:
                yield node.lineno, node.func.attr
            if node.func.attr == 'load' and getattr(node.func.value, 'id', '') in ('np', 'numpy'):
                safe = any(k.arg == 'allow_pickle' and getattr(k.value, 'value', True) is False
                           for k in node.keywords)
                if not safe:
                    yield node.lineno, 'np.load without allow_pickle=False'


def test_nothing_in_the_package_can_unpickle():
    found = {str(path.relative_to(PACKAGE)): list(_unsafe_loads(ast.parse(path.read_text())))
             for path in sorted(PACKAGE.rglob('*.py'))}
    assert {name: rows for name, rows in found.items() if rows} == {}
    assert len(found) > 40                  # the scan reads every module, subpackages too
    # the scan sees what it looks for
    assert list(_unsafe_loads(ast.parse('import numpy as np\nnp.load(f)\nt.load_states(f)')))
