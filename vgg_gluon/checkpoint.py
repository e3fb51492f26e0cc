"""Run directories: build a network from a saved config and load its weights.

A run directory holds ``config.json`` (the resolved Config), ``metrics.jsonl``
(one JSON record per epoch) and ``model.params`` (the parameters of the last
complete epoch). Training also keeps a checkpoint there after every epoch::

    checkpoints/epoch-0003.params   parameters          (net.save_parameters)
    checkpoints/epoch-0003.states   optimizer states    (trainer.save_states)
    checkpoint.json                 the manifest, written last: format version,
                                    epoch, the files' sizes and sha256, resolved
                                    config, random-number state, metrics so far

Every file is written to a temporary file in the same directory, fsynced and
renamed over its name (``os.replace``), and the manifest goes last: a run
killed at any moment leaves either the previous checkpoint or the new one,
never a mixture, and a file that does not match the manifest's size and
sha256 is refused rather than loaded. ``model.params``, ``metrics.jsonl`` and
``config.json`` are refreshed after the manifest, for readers that know
nothing of checkpoints.

MXNet 1.9 cannot save or restore its global random state (the dropout
masks), so training makes each epoch's randomness a function of
``(seed, epoch)`` instead (``seed_epoch``): a resumed epoch draws exactly
what the uninterrupted run drew.

The optimizer states file is a Python pickle (MXNet's format): load run
directories you trust.
"""
import dataclasses
import hashlib
import json
import os
import random

from .config import Config, ConfigError
from .model import vgg_from_spec

FORMAT = 'vgg_gluon-checkpoint'
FORMAT_VERSION = 1
MANIFEST = 'checkpoint.json'
CHECKPOINT_DIR = 'checkpoints'
_TMP = '.tmp-'


class CheckpointError(ValueError):
    """A run directory that cannot be trusted or does not fit what was asked.

    ``flag`` is the command-line option (or argument) to change.
    """

    def __init__(self, message, flag='RUN_DIR'):
        super().__init__(message)
        self.flag = flag


def build_net(config):
    """The (uninitialised) network a Config describes."""
    return vgg_from_spec(config.arch, ratio=config.ratio, scale_dense=config.scale_dense,
                         dropout=config.dropout)


# ---- atomic files ---------------------------------------------------------

def atomic_write(path, write):
    """Call ``write(tmp_path)``, fsync, then rename over ``path`` in one step.

    The temporary file lies in the same directory (a rename across file
    systems is not atomic) and is removed if ``write`` fails.
    """
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f'.{name}{_TMP}{os.getpid()}')
    try:
        write(tmp)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_text(path, text):
    def write(tmp):
        with open(tmp, 'w') as f:
            f.write(text)
    atomic_write(path, write)


def _fsync_dir(directory):
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_digest(path):
    """{'size': bytes, 'sha256': hex} of a file."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return {'size': os.path.getsize(path), 'sha256': h.hexdigest()}


def _link_or_copy(src, dst):
    """``dst`` becomes a copy of ``src`` atomically (a hard link where possible)."""
    def write(tmp):
        try:
            os.link(src, tmp)
        except OSError:  # file systems without hard links
            import shutil
            shutil.copyfile(src, tmp)
    atomic_write(dst, write)


# ---- random numbers -------------------------------------------------------

def epoch_seed(seed, epoch):
    """A 31-bit seed that depends only on (seed, epoch)."""
    import numpy as np
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def seed_epoch(seed, epoch):
    """Reseed MXNet, NumPy and ``random`` for epoch ``epoch`` (0-based).

    MXNet's generator state cannot be saved, so a resumed run reseeds instead:
    epoch k's dropout masks are then the same however the run got there.
    """
    import numpy as np
    import mxnet as mx
    s = epoch_seed(seed, epoch)
    random.seed(s)
    np.random.seed(s)
    mx.random.seed(s)


def rng_state():
    """Python's and NumPy's generator states as JSON-able data (MXNet's: see seed_epoch)."""
    import numpy as np
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {'python': [version, list(internal), gauss],
            'numpy': [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            'mxnet': 'reseeded from (seed, epoch) at every epoch start'}


def set_rng_state(state):
    import numpy as np
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


# ---- configs --------------------------------------------------------------

def config_from_dict(values, source):
    """A validated Config from saved values; unknown keys and bad values are refused."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{source}: expected a JSON object of settings")
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CheckpointError(f"{source}: unknown setting(s) {', '.join(unknown)} "
                              f"(written by another version of vgg_gluon?); refusing to guess")
    try:
        return Config(**values).validate()
    except ConfigError as err:
        raise CheckpointError(f"{source}: {err}") from None


def load_config(run_dir):
    """The run's Config from ``config.json``; CheckpointError if missing or not trusted."""
    path = os.path.join(run_dir, 'config.json')
    try:
        with open(path) as f:
            values = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{run_dir} is not a run directory (no config.json)") from None
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot read ({_one_line(err)})") from None
    return config_from_dict(values, path)


def check_expected(config, run_dir, arch=None, ratio=None):
    """Refuse a run of another architecture or ratio than the caller asked for."""
    if arch is not None:
        try:
            same = config.conv_arch() == Config(arch=arch).conv_arch()
        except Exception:
            same = False
        if not same:
            raise CheckpointError(f"{run_dir} holds a {config.arch} network, not {arch}",
                                  flag='--arch')
    if ratio is not None and ratio != config.ratio:
        raise CheckpointError(f"{run_dir} holds a network with ratio {config.ratio}, not {ratio}",
                              flag='--ratio')


# ---- writing --------------------------------------------------------------

class CheckpointWriter:
    """Writes a run's checkpoint after each epoch; call ``save`` on one process only.

    history: the metric records of epochs already done (when resuming).
    resumes: a list describing earlier resumptions and what they changed.
    """

    def __init__(self, run_dir, config, history=(), resumes=()):
        self.run_dir, self.config = run_dir, config
        self.history, self.resumes = list(history), list(resumes)
        self.epoch = self.history[-1]['epoch'] if self.history else 0

    def save(self, net, trainer, record):
        """Checkpoint the epoch that ``record`` (train_ch5's dict) finished."""
        from .loop import TrainingDiverged
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
        manifest = {
            'format': FORMAT, 'format_version': FORMAT_VERSION, 'epoch': epoch,
            'files': {'params': params, 'states': states},
            'digests': {name: file_digest(os.path.join(self.run_dir, name))
                        for name in (params, states) if name is not None},
            'config': self.config.to_dict(), 'metrics': history, 'rng': rng_state(),
            'resumes': self.resumes,
        }
        # The commit point: before this rename the previous checkpoint stands.
        atomic_write_text(os.path.join(self.run_dir, MANIFEST), json.dumps(manifest, indent=1))
        self.history, self.epoch = history, epoch
        self._refresh_views(params, manifest)
        return manifest

    def _refresh_views(self, params, manifest):
        """Files derived from the manifest, for readers that know nothing of checkpoints."""
        run_dir = self.run_dir
        _link_or_copy(os.path.join(run_dir, params), os.path.join(run_dir, 'model.params'))
        atomic_write_text(os.path.join(run_dir, 'metrics.jsonl'),
                          ''.join(json.dumps(r) + '\n' for r in manifest['metrics']))
        atomic_write_text(os.path.join(run_dir, 'config.json'),
                          json.dumps(manifest['config'], indent=2))
        keep = {name for name in manifest['files'].values() if name is not None}
        ckpt_dir = os.path.join(run_dir, CHECKPOINT_DIR)
        for name in os.listdir(ckpt_dir):  # older epochs, and temporaries of killed runs
            if f'{CHECKPOINT_DIR}/{name}' not in keep:
                os.remove(os.path.join(ckpt_dir, name))


def _states_are_local(trainer):
    """False when the optimizer runs on parameter servers (dist_* kvstore with
    update_on_kvstore): MXNet cannot save their states from a worker."""
    kv = trainer._kvstore
    return not (kv is not None and 'dist' in kv.type and trainer._update_on_kvstore)


def _all_finite(net):
    """False if any parameter holds NaN or infinity (one sum, one sync)."""
    import math
    total = sum(p.data().norm() for p in net.collect_params().values())
    return math.isfinite(total.asscalar())


# ---- reading --------------------------------------------------------------

def read_checkpoint(run_dir):
    """The verified manifest of the last complete epoch, or None if there is none.

    CheckpointError for a manifest of another or newer format, or files that
    are missing, truncated or changed since they were written.
    """
    path = os.path.join(run_dir, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot read ({_one_line(err)})") from None
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        raise CheckpointError(f"{path}: not a vgg_gluon checkpoint manifest")
    version = manifest.get('format_version')
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version!r} is newer than this "
                              f"vgg_gluon reads ({FORMAT_VERSION}); upgrade vgg_gluon")
    try:
        files, digests = manifest['files'], manifest['digests']
        epoch, metrics = manifest['epoch'], manifest['metrics']
        config_from_dict(manifest['config'], path)
        for key in ('params', 'states'):
            name = files[key]
            if name is None and key == 'states':
                continue  # a parameter-server run (see _states_are_local)
            expected = digests[name]
            _check_file(run_dir, name, expected['size'], expected['sha256'])
        if not isinstance(epoch, int) or len(metrics) != epoch:
            raise CheckpointError(f"{path}: epoch {epoch!r} but {len(metrics)} metric records")
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: incomplete manifest (missing {err})") from None
    return manifest


def _check_file(run_dir, name, size, sha256):
    path = os.path.join(run_dir, name)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete")
    found = os.path.getsize(path)
    if found != size:
        raise CheckpointError(f"{path} has {found} bytes, the manifest says {size} "
                              f"(truncated or replaced); refusing to load it")
    if file_digest(path)['sha256'] != sha256:
        raise CheckpointError(f"{path} changed since it was written (sha256 differs "
                              f"from the manifest); refusing to load it")


def params_path(run_dir, manifest=None):
    """The parameters to load: the checkpoint's if there is one, else model.params."""
    if manifest is not None:
        return os.path.join(run_dir, manifest['files']['params'])
    path = os.path.join(run_dir, 'model.params')
    if not os.path.isfile(path):
        raise CheckpointError(f"{run_dir} holds no parameters yet (no {MANIFEST}, no "
                              f"model.params): no epoch has finished")
    return path


def load_params(net, path, config, ctx):
    """Load ``path`` into ``net`` and run one forward pass to check every shape.

    CheckpointError (one line) when the file is unreadable or was saved from
    another architecture, ratio or input size than ``config`` describes.
    """
    import mxnet as mx
    what = (f"{config.arch} ratio {config.ratio}"
            f"{' scale-dense' if config.scale_dense else ''} at {config.resize} px")
    try:
        net.load_parameters(path, ctx=ctx)
        c = ctx[0] if isinstance(ctx, (list, tuple)) else ctx
        net(mx.nd.zeros((1, 1, config.resize, config.resize), ctx=c)).wait_to_read()
    except (mx.base.MXNetError, AssertionError, ValueError, KeyError, OSError) as err:
        raise CheckpointError(f"{path}: cannot load it as the run's {what} network "
                              f"({_one_line(err)}); it is corrupt or from another "
                              f"architecture") from None


def load_model(run_dir, ctx=None, arch=None, ratio=None):
    """(net, config) of a run, with the last complete epoch's parameters on ``ctx``.

    ``arch``/``ratio``: refuse a run of another architecture or ratio.
    Raises CheckpointError when the run directory cannot be trusted.
    """
    import mxnet as mx
    config = load_config(run_dir)
    check_expected(config, run_dir, arch, ratio)
    manifest = read_checkpoint(run_dir)
    ctx = ctx or mx.cpu()
    net = build_net(config)
    load_params(net, params_path(run_dir, manifest), config, ctx)
    return net, config


def restore(run_dir, manifest, net, trainer, config, ctx):
    """Load a verified checkpoint's parameters, optimizer and random states."""
    load_params(net, params_path(run_dir, manifest), config, ctx)
    if manifest['files']['states'] is None:
        raise CheckpointError(f"{run_dir} was trained with a parameter server, which keeps the "
                              f"optimizer states on the servers: it cannot be resumed exactly",
                              flag='--resume')
    states = os.path.join(run_dir, manifest['files']['states'])
    try:
        trainer.load_states(states)
    except Exception as err:  # a pickle of anything may fail in any way
        raise CheckpointError(f"{states}: cannot load the optimizer states "
                              f"({_one_line(err)})") from None
    _check_states(trainer, states)
    set_rng_state(manifest['rng'])


def _check_states(trainer, path):
    """Every optimizer state must have its parameter's shape (states are kept by index)."""
    updaters = ([trainer._kvstore._updater] if trainer._update_on_kvstore
                else trainer._updaters)
    for updater in updaters:
        for index, state in updater.states.items():
            arrays = state if isinstance(state, (list, tuple)) else [state]
            param = trainer._params[index] if index < len(trainer._params) else None
            for array in arrays:
                if array is not None and (param is None or array.shape != param.shape):
                    raise CheckpointError(
                        f"{path}: optimizer state {index} has shape {array.shape}, the "
                        f"parameter {'is missing' if param is None else param.shape}; the "
                        f"states belong to another network or parameter order")


def _one_line(err):
    """One line of an error message: MXNet's own 'MXNetError: ...' line if there
    is one (its messages start with a C++ traceback), else the first."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith('MXNetError:'):
            return line[len('MXNetError:'):].strip()
    return lines[0] if lines else type(err).__name__
