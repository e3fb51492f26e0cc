"""Checkpoints: written after every epoch, restored by ``--resume``.

The layout of a run directory is ``rundir.py``'s. Every file is written
whole (``atomic.py``) and the manifest goes last: a run killed at any moment
leaves either the previous checkpoint or the new one, never a mixture.
``model.params``, ``metrics.jsonl`` and ``config.json`` are refreshed after
the manifest, for readers that know nothing of checkpoints.

MXNet 1.9 cannot save or restore its global random state (the dropout
masks), so training reseeds every epoch from ``(seed, epoch)`` (``rng.py``).

The optimizer states file is a Python pickle (MXNet's format): load run
directories you trust.
"""
import json
import math
import os

from . import mxnet_internals as internals
from .atomic import atomic_write, atomic_write_text, file_digest, link_or_copy
from .errors import CheckpointError
from .loop import TrainingDiverged
from .rng import rng_state, set_rng_state
from .rundir import (BEST_PARAMS, CHECKPOINT_DIR, FORMAT, FORMAT_VERSION, MANIFEST,
                     load_params, one_line, params_path)


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

    def save(self, net, trainer, record):
        """Checkpoint the epoch that ``record`` (train_ch5's dict) finished."""
        epoch = record['epoch']
        if not _all_finite(net):
            raise TrainingDiverged(f"the parameters became NaN or infinite in epoch {epoch}; "
                                   f"lower the learning rate (--lr, now "
                                   f"{trainer.learning_rate:g})")
        ckpt_dir = os.path.join(self.run_dir, CHECKPOINT_DIR)
        os.makedirs(ckpt_dir, exist_ok=True)
        params = f'{CHECKPOINT_DIR}/epoch-{epoch:04d}.params'
        states = f'{CHECKPOINT_DIR}/epoch-{epoch:04d}.states'
        atomic_write(os.path.join(self.run_dir, params), net.save_parameters)
        if _states_are_local(trainer):
            atomic_write(os.path.join(self.run_dir, states), trainer.save_states)
        else:
            states = None  # kept by the parameter servers: no worker can save them
        history = self.history + [record]
        best = self.best
        if best is None or record['test_acc'] > best['test_acc']:  # ties: the earlier epoch
            best = {'epoch': epoch, 'test_acc': record['test_acc'], 'params': params}
        manifest = {
            'format': FORMAT, 'format_version': FORMAT_VERSION, 'epoch': epoch,
            'files': {'params': params, 'states': states},
            'digests': {name: file_digest(os.path.join(self.run_dir, name))
                        for name in (params, states, best['params']) if name is not None},
            'config': self.config.to_dict(), 'metrics': history, 'rng': rng_state(),
            'resumes': self.resumes, 'best': best,
        }
        # The commit point: before this rename the previous checkpoint stands.
        atomic_write_text(os.path.join(self.run_dir, MANIFEST), json.dumps(manifest, indent=1))
        self.history, self.epoch, self.best = history, epoch, best
        self._refresh_views(params, manifest)
        return manifest

    def _refresh_views(self, params, manifest):
        """Files derived from the manifest, for readers that know nothing of checkpoints."""
        run_dir = self.run_dir
        link_or_copy(os.path.join(run_dir, params), os.path.join(run_dir, 'model.params'))
        link_or_copy(os.path.join(run_dir, manifest['best']['params']),
                     os.path.join(run_dir, BEST_PARAMS))
        atomic_write_text(os.path.join(run_dir, 'metrics.jsonl'),
                          ''.join(json.dumps(r) + '\n' for r in manifest['metrics']))
        atomic_write_text(os.path.join(run_dir, 'config.json'),
                          json.dumps(manifest['config'], indent=2))
        keep = {name for name in manifest['files'].values() if name is not None}
        keep.add(manifest['best']['params'])  # the best epoch's parameters, until bettered
        ckpt_dir = os.path.join(run_dir, CHECKPOINT_DIR)
        for name in os.listdir(ckpt_dir):  # older epochs, and temporaries of killed runs
            if f'{CHECKPOINT_DIR}/{name}' not in keep:
                os.remove(os.path.join(ckpt_dir, name))


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
    optimizer and random states."""
    load_params(net, params_path(run_dir, manifest), config, ctxs)
    if manifest['files']['states'] is None:
        raise CheckpointError(f"{run_dir} was trained with a parameter server, which keeps the "
                              f"optimizer states on the servers: it cannot be resumed exactly",
                              flag='resume')
    states = os.path.join(run_dir, manifest['files']['states'])
    try:
        trainer.load_states(states)
    except Exception as err:  # a pickle of anything may fail in any way
        raise CheckpointError(f"{states}: cannot load the optimizer states "
                              f"({one_line(err)})") from None
    _check_states(trainer, states)
    set_rng_state(manifest['rng'])


def _check_states(trainer, path):
    """Every optimizer state must have its parameter's shape (states are kept by index)."""
    params = internals.trainer_params(trainer)
    for updater in internals.optimizer_updaters(trainer):
        for index, state in updater.states.items():
            arrays = state if isinstance(state, (list, tuple)) else [state]
            param = params[index] if index < len(params) else None
            for array in arrays:
                if array is not None and (param is None or array.shape != param.shape):
                    raise CheckpointError(
                        f"{path}: optimizer state {index} has shape {array.shape}, the "
                        f"parameter {'is missing' if param is None else param.shape}; the "
                        f"states belong to another network or parameter order")
