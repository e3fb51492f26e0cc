"""``--resume RUN_DIR``: the run directory's settings, and which flags may change them.

A resumed run keeps the config it was started with, so that it ends where
the uninterrupted run would have ended. A flag given next to ``--resume``
must agree with the saved value, except these:

    --epochs     the total number of epochs (at least the epochs already done)
    --lr         the learning rate from the next epoch on (e.g. after a NaN);
                 recorded in the manifest's ``resumes`` list
    --data-dir   where the same Fashion-MNIST files are on this machine
    --gpus       the devices (the numbers then match only up to rounding)
    --quiet      output only
"""
import os
from dataclasses import dataclass, field

from .checkpoint import CheckpointError, config_from_dict, load_config, read_checkpoint
from .config import Config, ConfigError

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


def _flag(dest):
    return '--' + dest.replace('_', '-')


def prepare(argv):
    """(config, Resume) for ``--resume RUN_DIR`` and the flags beside it.

    Reads and verifies everything, writes nothing. ConfigError for a flag
    that conflicts with the run; CheckpointError for a run directory that
    cannot be trusted.
    """
    from .train import _explicit_flags
    given = _explicit_flags(argv)
    run_dir = given.pop('resume')
    if 'recipe' in given:
        raise ConfigError('--recipe', f"a resumed run keeps the settings it was started with; "
                                      f"drop --recipe {given['recipe']}")
    if not os.path.isdir(run_dir):
        raise CheckpointError(f"{run_dir} is not a directory", flag='--resume')
    config = load_config(run_dir)          # config.json must be sound in any case
    manifest = read_checkpoint(run_dir)
    if manifest is not None:               # the checkpoint's own copy is the truth
        config = config_from_dict(manifest['config'], os.path.join(run_dir, 'checkpoint.json'))
    elif os.path.exists(os.path.join(run_dir, 'model.params')):
        raise CheckpointError(f"{run_dir} has model.params but no checkpoint.json (an older "
                              f"vgg_gluon?): without optimizer states it cannot be resumed "
                              f"exactly", flag='--resume')
    resume = Resume(run_dir, manifest)
    saved = config.to_dict()
    out = given.pop('out', None)
    if out is not None and os.path.realpath(out) != os.path.realpath(run_dir):
        raise ConfigError('--out', f"a resumed run writes into its own directory {run_dir}; "
                                   f"drop --out {out}")
    for dest, value in given.items():
        if dest in CHANGEABLE:
            if value != saved[dest]:
                resume.changes[dest] = [saved[dest], value]
                saved[dest] = value
        elif value != saved[dest]:
            raise ConfigError(_flag(dest), f"{run_dir} was trained with {saved[dest]!r}, not "
                              f"{value!r}; a resumed run keeps its settings (only "
                              f"{', '.join(_flag(d) for d in CHANGEABLE)} may change)")
    saved['out'] = run_dir
    config = Config(**saved).validate()
    if config.epochs < resume.epochs_done:
        raise ConfigError('--epochs', f"must be at least {resume.epochs_done} (the epochs "
                                      f"{run_dir} has finished), got {config.epochs}")
    return config, resume
