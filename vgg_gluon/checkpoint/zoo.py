"""The models in the box: trained weights shipped inside the package (``--model NAME``).

Each shipped model is a folder ``checkpoint/weights/NAME/`` holding

    config.json      the resolved Config it was trained with
    model.params     its parameters (MXNet's NDArray file, net.save_parameters)
    manifest.json    name, recipe, seed, the command that made it, date, CPU,
                     test accuracy, and every file's size and sha256

``scripts/ship_models.py`` writes them. Loading checks each file's size and
sha256 against the manifest before MXNet parses it, and nothing is unpickled.
Nothing is ever written here: the installed package may be read-only.
"""
import json
import os

import mxnet as mx

from ..errors import CheckpointError
from ..models.vgg import build_net
from ..runtime.atomic import file_digest
from .reader import LoadedRun, check_expected, config_from_dict, load_params

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'weights')
MANIFEST = 'manifest.json'
FILES = ('config.json', 'model.params')


def shipped_names():
    """The names of the models shipped with the package, sorted (['fast'])."""
    if not os.path.isdir(WEIGHTS):
        return []
    return sorted(n for n in os.listdir(WEIGHTS)
                  if os.path.isfile(os.path.join(WEIGHTS, n, MANIFEST)))


def model_dir(name):
    """The folder of a shipped model; CheckpointError (flag 'model') naming the valid ones."""
    names = shipped_names()
    if name not in names:
        raise CheckpointError(f"no shipped model {name!r}: choose one of "
                              f"{', '.join(names) or '(none installed)'}", flag='model')
    return os.path.join(WEIGHTS, name)


def read_manifest(name):
    """The manifest of a shipped model, every file in it checked (size, sha256)."""
    folder = model_dir(name)
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot read ({err})", flag='model') from None
    for filename in FILES:
        entry = manifest.get('files', {}).get(filename)
        file_path = os.path.join(folder, filename)
        if entry is None or not os.path.isfile(file_path):
            raise CheckpointError(f"{folder}: {filename} missing from the manifest or the "
                                  f"folder; reinstall vgg_gluon", flag='model')
        digest = file_digest(file_path)
        if digest['size'] != entry['size'] or digest['sha256'] != entry['sha256']:
            raise CheckpointError(f"{file_path} does not match its manifest (size or sha256); "
                                  f"refusing to load it", flag='model')
    return manifest


def load_shipped(name, ctx=None, arch=None, ratio=None):
    """LoadedRun(net, config, epoch) of the shipped model ``name``, verified, on ``ctx``."""
    manifest = read_manifest(name)
    folder = model_dir(name)
    with open(os.path.join(folder, 'config.json')) as f:
        config = config_from_dict(json.load(f), os.path.join(folder, 'config.json'))
    check_expected(config, f"shipped model {name}", arch, ratio)
    net = build_net(config)
    load_params(net, os.path.join(folder, 'model.params'), config, [ctx or mx.cpu()])
    return LoadedRun(net, config, manifest['epoch'])
