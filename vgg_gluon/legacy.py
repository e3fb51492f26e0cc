"""Run directories of checkpoint format 1, whose optimizer states are a pickle.

vgg_gluon wrote format 1 until the optimizer states left pickle: the states
file was MXNet's ``Trainer.save_states``, a Python pickle of
``(updater.states, optimizer)``. Unpickling runs whatever code the file names,
so nothing else in vgg_gluon reads such a file; ``convert`` does, once, for a
run directory the user trusts (``python -m vgg_gluon.convert``), and rewrites
it in the current format (``optimizer_state.py``). This is the only module
that imports pickle.
"""
import errno
import json
import os
import pickle

import mxnet as mx

from .atomic import atomic_write, atomic_write_text, file_digest
from .errors import CheckpointError
from .optimizer_state import encode
from .rundir import FORMAT_VERSION, MANIFEST, manifest_version, one_line, read_checkpoint


def convert(run_dir):
    """Rewrite ``run_dir``'s format-1 checkpoint in the current format.

    UNPICKLES the optimizer-states file (after checking it against the
    manifest's sha256): call it only on run directories you trust. The new
    states file is written first, the manifest last (the commit point), then
    the pickle is removed: a conversion stopped at any moment leaves a run
    directory of either format. Returns the new manifest, or None when the
    directory is already in the current format. CheckpointError otherwise.
    """
    if manifest_version(run_dir) == FORMAT_VERSION:
        read_checkpoint(run_dir)   # verified like any other
        return None
    manifest = read_checkpoint(run_dir, version=1)
    if manifest is None:
        raise CheckpointError(f"{run_dir} has no {MANIFEST}: nothing to convert")
    old = manifest['files']['states']
    new = dict(manifest, format_version=FORMAT_VERSION, optimizer=None)
    if old is not None:
        states, optimizer = _unpickle(os.path.join(run_dir, old))
        arrays, new['optimizer'] = encode(states, optimizer)
        name = old + '.nd'
        _write_arrays(os.path.join(run_dir, name), arrays)
        params = manifest['files']['params']
        new['files'] = {'params': params, 'states': name}
        new['digests'] = {params: manifest['digests'][params],
                          name: file_digest(os.path.join(run_dir, name))}
    atomic_write_text(os.path.join(run_dir, MANIFEST), json.dumps(new, indent=1))
    if old is not None:
        os.remove(os.path.join(run_dir, old))
    return new


def _unpickle(path):
    """(states, optimizer) from a file of ``Trainer.save_states``. Runs the pickle."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        loaded = pickle.loads(data)   # noqa: S301 - the one place; see the module docstring
    except Exception as err:  # a pickle may fail in any way
        raise CheckpointError(f"{path}: cannot unpickle the optimizer states "
                              f"({one_line(err)})") from None
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[0], dict)
            and isinstance(loaded[1], mx.optimizer.Optimizer)):
        raise CheckpointError(f"{path}: not the (states, optimizer) pair that "
                              f"Trainer.save_states writes")
    return loaded


def _write_arrays(path, arrays):
    """mx.nd.save, atomically; its failure (a full disk) as the OSError it is."""
    try:
        atomic_write(path, lambda tmp: mx.nd.save(tmp, arrays))
    except mx.base.MXNetError as err:
        raise OSError(errno.EIO, one_line(err), path) from None
