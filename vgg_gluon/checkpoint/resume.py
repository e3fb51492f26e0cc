"""``--resume RUN_DIR``: the run directory's settings, and which flags may change them.

A resumed run keeps the config it was started with, so that it ends where
the uninterrupted run would have ended. A flag given next to ``--resume``
must agree with the saved value, except these:

    --epochs     the total number of epochs (at least the epochs already done);
                 a schedule then spans the new total
    --lr         the learning rate from the next epoch on (e.g. after a NaN);
                 recorded in the manifest's ``resumes`` list. Under a schedule,
                 its peak: the schedule goes on from the step reached
    --data-dir   where the same Fashion-MNIST files are on this machine
    --gpus       the devices (the numbers then match only up to rounding)
    --quiet      output only

Everything else stays, the training toolkit's settings too: --momentum,
--wd, --wd-all, --optimizer, --lr-schedule, --warmup-epochs, --lr-steps,
--lr-factor, --label-smoothing and --augment change what the remaining
epochs compute, so a resumed run with another value would match neither
run (start a new run for that).
"""
import os
from dataclasses import dataclass, field

from ..config import Config
from ..errors import CheckpointError, ConfigError
from .reader import CHECKPOINT_DIR, MANIFEST, check_not_symlink, config_from_dict, load_config, read_checkpoint

CHANGEABLE = ('epochs', 'lr', 'data_dir', 'gpus', 'quiet')


@dataclass
class Resume:
    """What ``run`` needs to go on: the verified manifest (None if no epoch finished)."""
    run_dir: str
    manifest: dict = None
    changes: dict = field(default_factory=dict)

    @property
    def epochs_done(self):
        return self.manifest['epoch'] if self.manifest else 0


def prepare(run_dir, given):
    """(config, Resume) to go on with ``run_dir``.

    given: the settings asked for beside the resumption ({Config field:
    value}, only those given). Reads and verifies everything, writes
    nothing. ConfigError for a setting that conflicts with the run;
    CheckpointError (flagged 'resume') for a run directory that cannot be
    trusted.
    """
    if not os.path.isdir(run_dir):
        raise CheckpointError(f"{run_dir} is not a directory", flag='resume')
    try:
        config, manifest = _saved_config(run_dir)
    except CheckpointError as err:
        raise CheckpointError(str(err), flag='resume') from None
    return _apply(config, Resume(run_dir, manifest), dict(given))


def _saved_config(run_dir):
    """(Config, manifest or None): the checkpoint's own copy of the config wins."""
    config = load_config(run_dir)          # config.json must be sound in any case
    check_not_symlink(os.path.join(run_dir, CHECKPOINT_DIR))   # before anything is pruned
    manifest = read_checkpoint(run_dir)
    if manifest is not None:
        config = config_from_dict(manifest['config'], os.path.join(run_dir, MANIFEST))
    elif os.path.exists(os.path.join(run_dir, 'model.params')):
        raise CheckpointError(f"{run_dir} has model.params but no checkpoint.json (an older "
                              f"vgg_gluon?): without optimizer states it cannot be resumed "
                              f"exactly")
    return config, manifest


def _apply(config, resume, given):
    """The saved config with the changeable settings of ``given`` applied."""
    run_dir = resume.run_dir
    saved = config.to_dict()
    out = given.pop('out', None)
    if out is not None and os.path.realpath(out) != os.path.realpath(run_dir):
        raise ConfigError(f"a resumed run writes into its own directory {run_dir}; "
                          f"drop --out {out}", flag='out')
    for dest, value in given.items():
        if dest in CHANGEABLE:
            if value != saved[dest]:
                resume.changes[dest] = [saved[dest], value]
                saved[dest] = value
        elif value != saved[dest]:
            raise ConfigError(f"{run_dir} was trained with {saved[dest]!r}, not {value!r}; a "
                              f"resumed run keeps its settings (only "
                              f"{', '.join(CHANGEABLE)} may change)", flag=dest)
    saved['out'] = run_dir
    config = Config(**saved).validate()
    if config.epochs < resume.epochs_done:
        raise ConfigError(f"must be at least {resume.epochs_done} (the epochs {run_dir} has "
                          f"finished), got {config.epochs}", flag='epochs')
    return config, resume
