"""Checkpoints: written after every epoch, restored by ``--resume``.

The layout of a run directory is ``rundir.py``'s. Every file is written
whole (``atomic.py``) and the manifest goes last: a run killed at any moment
leaves either the previous checkpoint or the new one, never a mixture.
``model.params``, ``metrics.jsonl`` and ``config.json`` are refreshed after
the manifest, for readers that know nothing of checkpoints.

MXNet 1.9 cannot save or restore its global random state (the dropout
masks), so training reseeds every epoch from ``(seed, epoch)`` (``rng.py``).

Nothing here pickles or unpickles: the optimizer states are an NDArray file
and JSON (``optimizer_state.py``). A checkpoint that cannot be written (full
disk, read-only or removed directory) raises ``SaveFailed``; the checkpoint
before it stands.
"""
import errno
import json
import math
import os
import re
import tempfile

import mxnet as mx

from ..runtime import mxnet_internals as internals
from . import optimizer_state
from ..runtime.atomic import atomic_write, atomic_write_text, file_digest, link_or_copy
from ..errors import CheckpointError, SaveFailed, TrainingDiverged
from ..runtime.seeding import rng_state, set_rng_state
from .reader import (BEST_PARAMS, CHECKPOINT_DIR, FORMAT, FORMAT_VERSION, MANIFEST,
                     check_not_symlink, inside, load_params, one_line, params_path,
                     read_checkpoint)


# the epoch files and their atomic_write temporaries ('.epoch-0003.params.tmp-k2j_x9')
PRUNABLE = re.compile(r'\.?epoch-\d{4,}\.(params|states\.nd)(\.tmp-[A-Za-z0-9_]+)?')


class CheckpointWriter:
    """Writes a run's checkpoint after each epoch; call ``save`` on one process only.

    history: the metric records of epochs already done (when resuming).
    resumes: a list describing earlier resumptions and what they changed.
    best: the manifest's 'best' entry (when resuming): the epoch with the
    highest test accuracy so far, whose parameters file is kept.
    """

    def __init__(self, run_dir, config, history=(), resumes=(), best=None):
        self.run_dir, self.config = run_dir, config
        self.history, self.resumes = list(history), list(resumes)
        self.epoch = self.history[-1]['epoch'] if self.history else 0
        self.best = best
        self._writing = run_dir   # the file being written, for SaveFailed's message

    def probe(self):
        """SaveFailed now, before an epoch is spent, if the run directory cannot
        be written (read-only, removed)."""
        try:
            with tempfile.TemporaryFile(dir=self._checkpoint_dir()):
                pass
        except OSError as err:
            raise SaveFailed(f"cannot write into {self.run_dir}: {_reason(err)}") from None

    def save(self, net, trainer, record):
        """Checkpoint the epoch that ``record`` (train_ch5's dict) finished.

        SaveFailed when a file cannot be written; the previous checkpoint stands.
        """
        epoch = record['epoch']
        if not _all_finite(net):
            raise TrainingDiverged(f"the parameters became NaN or infinite in epoch {epoch}; "
                                   f"lower the learning rate (--lr, now "
                                   f"{trainer.learning_rate:g})")
        try:
            manifest = self._write(net, trainer, record)
        except (OSError, mx.base.MXNetError) as err:
            raise SaveFailed(f"epoch {epoch}'s checkpoint failed writing {self._writing}: "
                             f"{_reason(err)}") from None
        try:
            self._refresh_views(manifest)
        except (OSError, mx.base.MXNetError) as err:
            raise SaveFailed(f"epoch {epoch}'s checkpoint is saved, but writing "
                             f"{self._writing} failed: {_reason(err)}") from None
        return manifest

    def _checkpoint_dir(self):
        """The checkpoints directory, created if missing; never the run directory
        itself: a run directory removed under a run stays removed."""
        self._writing = ckpt_dir = os.path.join(self.run_dir, CHECKPOINT_DIR)
        try:
            os.mkdir(ckpt_dir)
        except FileExistsError:
            pass
        check_not_symlink(ckpt_dir)
        return ckpt_dir

    def _write(self, net, trainer, record):
        """The epoch's files, then the manifest (the commit point)."""
        epoch, run_dir = record['epoch'], self.run_dir
        self._checkpoint_dir()
        params = f'{CHECKPOINT_DIR}/epoch-{epoch:04d}.params'
        states = f'{CHECKPOINT_DIR}/epoch-{epoch:04d}.states.nd'
        self._writing = os.path.join(run_dir, params)
        atomic_write(self._writing, _read_back(net.save_parameters))
        described = {'optimizer': None}
        if _states_are_local(trainer):
            self._writing = os.path.join(run_dir, states)

            def write_states(tmp):
                described['optimizer'] = optimizer_state.save(trainer, tmp)
            atomic_write(self._writing, _read_back(write_states))
        else:
            states = None  # kept by the parameter servers: no worker can save them
        history = self.history + [record]
        best = self.best
        if best is None or record['test_acc'] > best['test_acc']:  # ties: the earlier epoch
            best = {'epoch': epoch, 'test_acc': record['test_acc'], 'params': params}
        manifest = {
            'format': FORMAT, 'format_version': FORMAT_VERSION, 'epoch': epoch,
            'files': {'params': params, 'states': states},
            'digests': {name: file_digest(os.path.join(run_dir, name))
                        for name in (params, states, best['params']) if name is not None},
            'optimizer': described['optimizer'], 'config': self.config.to_dict(),
            'metrics': history, 'rng': rng_state(), 'resumes': self.resumes, 'best': best,
        }
        self._writing = os.path.join(run_dir, MANIFEST)
        # The commit point: before this rename the previous checkpoint stands.
        atomic_write_text(self._writing, json.dumps(manifest, indent=1))
        self.history, self.epoch, self.best = history, epoch, best
        return manifest

    def _refresh_views(self, manifest):
        """Files derived from the manifest, for readers that know nothing of checkpoints."""
        run_dir = self.run_dir
        self._writing = os.path.join(run_dir, 'model.params')
        link_or_copy(os.path.join(run_dir, manifest['files']['params']), self._writing)
        self._writing = os.path.join(run_dir, BEST_PARAMS)
        link_or_copy(os.path.join(run_dir, manifest['best']['params']), self._writing)
        self._writing = os.path.join(run_dir, 'metrics.jsonl')
        atomic_write_text(self._writing,
                          ''.join(json.dumps(r) + '\n' for r in manifest['metrics']))
        self._writing = os.path.join(run_dir, 'config.json')
        atomic_write_text(self._writing, json.dumps(manifest['config'], indent=2))
        keep = {name for name in manifest['files'].values() if name is not None}
        keep.add(manifest['best']['params'])  # the best epoch's parameters, until bettered
        self._writing = ckpt_dir = os.path.join(run_dir, CHECKPOINT_DIR)   # pruning
        check_not_symlink(ckpt_dir)
        for name in os.listdir(ckpt_dir):  # older epochs, and temporaries of killed runs
            path = os.path.join(ckpt_dir, name)
            # only the names this project writes, and never through a symlink's target
            # (os.remove unlinks the link itself); anything else someone put here stays
            if (f'{CHECKPOINT_DIR}/{name}' not in keep and PRUNABLE.fullmatch(name)
                    and not os.path.isdir(path)):
                os.remove(path)


def _read_back(save):
    """``save(tmp)`` for atomic_write, then the NDArray file read back whole.

    MXNet's file stream (dmlc-core in mxnet 1.9.1) does not check ``fclose``:
    a disk that fills during the last, buffered write leaves a short file and
    no error. Loading it back (MXNet's C++ parser; a short file fails there)
    turns that into the OSError it is, before the manifest names the file.
    It costs one read of the file and, for a moment, a second copy of its arrays.
    """
    def write(tmp):
        save(tmp)
        try:
            mx.nd.load(tmp)
        except mx.base.MXNetError as err:
            raise OSError(errno.EIO, f"incomplete after writing, a full disk? "
                                     f"({one_line(err)})", tmp) from None
    return write


def _states_are_local(trainer):
    """False when the optimizer runs on parameter servers (dist_* kvstore with
    update_on_kvstore): MXNet cannot save their states from a worker."""
    kv = internals.trainer_kvstore(trainer)
    return not (kv is not None and 'dist' in kv.type and internals.updates_on_kvstore(trainer))


def _all_finite(net):
    """False if any parameter holds NaN or infinity (one sum, one sync)."""
    total = sum(p.data().norm() for p in net.collect_params().values())
    return math.isfinite(total.asscalar())


def restore(run_dir, manifest, net, trainer, config, ctxs):
    """Load a verified checkpoint's parameters (onto the devices ``ctxs``),
    optimizer and random states. CheckpointError flagged 'resume'."""
    try:
        load_params(net, params_path(run_dir, manifest), config, ctxs)
        if manifest['files']['states'] is None:
            raise CheckpointError(f"{run_dir} was trained with a parameter server, which keeps "
                                  f"the optimizer states on the servers: it cannot be resumed "
                                  f"exactly")
        states = inside(run_dir, manifest['files']['states'], MANIFEST)
        optimizer_state.restore(trainer, manifest['optimizer'], states)
        _check_states(trainer, states)
    except CheckpointError as err:
        raise CheckpointError(str(err), flag='resume') from None
    set_rng_state(manifest['rng'])


def _check_states(trainer, path):
    """Every optimizer state must have its parameter's shape (states are kept by index)."""
    params = internals.trainer_params(trainer)
    for updater in internals.optimizer_updaters(trainer):
        for index, state in updater.states.items():
            param = params[index] if isinstance(index, int) and 0 <= index < len(params) else None
            for array in _arrays(state):
                if array is not None and (param is None or array.shape != param.shape):
                    raise CheckpointError(
                        f"{path}: optimizer state {index} has shape {array.shape}, the "
                        f"parameter {'is missing' if param is None else param.shape}; the "
                        f"states belong to another network or parameter order")


def _arrays(state):
    """The NDArrays of one optimizer state (None, an NDArray, or nested tuples/lists)."""
    if isinstance(state, (list, tuple)):
        return [array for item in state for array in _arrays(item)]
    return [] if state is None else [state]


def last_saved_epoch(run_dir):
    """The epoch of the run's checkpoint as it is on disk now, read and verified
    (0: none); CheckpointError if it cannot be loaded. For the line a failed
    save prints: it says what is saved, not what should have been."""
    if not os.path.isdir(run_dir):
        raise CheckpointError(f"{run_dir} no longer exists")
    manifest = read_checkpoint(run_dir)
    return manifest['epoch'] if manifest else 0


def _reason(err):
    """An I/O error in a few words: 'No space left on device', or MXNet's own line
    (the file is named by the message around it)."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    line = one_line(err)
    # dmlc-core's 'LocalFileSystem: Check failed: ... Open "tmp": Read-only file system'
    opened = re.search(r'Open "[^"]*": (.+)$', line)
    if opened:
        return opened.group(1)
    if line.endswith('FileStream.Write incomplete'):   # fwrite fell short; errno is lost
        return "written only in part (MXNet: FileStream.Write incomplete), as on a full disk"
    return line
