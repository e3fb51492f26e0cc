"""Run directories: what ``python -m vgg_gluon.train`` leaves, read back and checked.

A run directory holds ``config.json`` (the resolved Config), ``metrics.jsonl``
(one JSON record per epoch, with its learning rate), ``model.params`` (the
parameters of the last complete epoch), ``best.params`` (those of the epoch
with the best test accuracy), and the checkpoint of the last complete epoch
(``checkpoint.py`` writes it)::

    checkpoints/epoch-0003.params     parameters (net.save_parameters: MXNet's
                                      NDArray file)
    checkpoints/epoch-0003.states.nd  the optimizer's arrays (mx.nd.save)
    checkpoints/epoch-0002.params     the best epoch's parameters, while it is not
                                      the last
    checkpoint.json                   the manifest, written last: format version,
                                      epoch, the files' sizes and sha256, the
                                      optimizer's counters and hyper-parameters,
                                      resolved config, random-number state,
                                      metrics so far, 'best': {epoch, test_acc,
                                      params}

Nothing in a run directory is loaded with pickle, so loading one cannot run
code: JSON, and NDArray files parsed by MXNet's C++. A file that does not
match the manifest's size and sha256 is refused rather than loaded; so is a
run of another architecture than the caller asked for, and a run directory of
format 1, whose optimizer states were a pickle.
"""
import json
import os
from typing import NamedTuple

import mxnet as mx

from ..models.architectures import format_spec, parse_spec
from ..runtime.atomic import file_digest
from ..config import Config
from ..errors import CheckpointError, ConfigError, one_line
from ..models.vgg import build_net

FORMAT = 'vgg_gluon-checkpoint'
FORMAT_VERSION = 2   # 1 pickled the optimizer states; it is refused
MANIFEST = 'checkpoint.json'
CHECKPOINT_DIR = 'checkpoints'
BEST_PARAMS = 'best.params'
EPOCHS = ('last', 'best')  # which parameters a command loads (--epoch)
# A config.json is about 1 kB and a manifest grows by about 0.3 kB an epoch:
# these caps leave room for thousands of epochs and keep a planted file cheap.
CONFIG_LIMIT = 1 << 20
MANIFEST_LIMIT = 16 << 20


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path, limit):
    """The JSON value in ``path``: at most ``limit`` bytes are read, and NaN and
    Infinity (which Python's json accepts) are refused. FileNotFoundError as
    is; ValueError (with the reason) for a file too large or not strict JSON."""
    with open(path, 'rb') as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit >> 20} MiB, the most vgg_gluon reads")
    return json.loads(data, parse_constant=_refuse_constant)


# ---- the configuration ----------------------------------------------------------

def config_from_dict(values, source):
    """A validated Config from saved values; unknown keys and bad values are refused."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{source}: expected a JSON object of settings")
    known = set(Config().to_dict())
    unknown = sorted(set(values) - known)
    if unknown:
        raise CheckpointError(f"{source}: unknown setting(s) {', '.join(unknown)} "
                              f"(written by another version of vgg_gluon?); refusing to guess")
    try:
        return Config(**values).validate()
    except ConfigError as err:
        raise CheckpointError(f"{source}: {err.flag}: {err}") from None


def load_config(run_dir):
    """The run's Config from ``config.json``; CheckpointError if missing or not trusted."""
    path = os.path.join(run_dir, 'config.json')
    try:
        values = read_json(path, CONFIG_LIMIT)
    except FileNotFoundError:
        raise CheckpointError(f"{run_dir} is not a run directory (no config.json)") from None
    except (OSError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path}: cannot read ({one_line(err)})") from None
    return config_from_dict(values, path)


def check_expected(config, run_dir, arch=None, ratio=None):
    """Refuse a run whose network is not the one the caller asked for.

    arch: compared by the whole architecture (blocks, kernel sizes, batch
    norm, LRN), not by name alone; ratio: the channel divisor. The message
    names both networks.
    """
    if arch is not None:
        have, want = parse_spec(config.arch), parse_spec(arch)
        if have != want:
            raise CheckpointError(f"{run_dir} holds a {config.arch} network "
                                  f"({format_spec(have)}), not {arch} ({format_spec(want)})",
                                  flag='arch')
    if ratio is not None and ratio != config.ratio:
        raise CheckpointError(f"{run_dir} holds a {config.arch} network with ratio "
                              f"{config.ratio}, not {ratio}", flag='ratio')


# ---- the checkpoint and the parameters ----------------------------------------------

def check_not_symlink(path):
    """CheckpointError if ``path`` is a symlink: a run directory's checkpoints/
    pointing elsewhere would have its pruning delete another folder's files."""
    if os.path.islink(path):
        raise CheckpointError(f"{path} is a symbolic link; vgg_gluon writes and prunes "
                              f"checkpoints only in a real folder of the run directory: "
                              f"refusing to touch it", flag='resume')


def inside(run_dir, name, source):
    """The path of a file the manifest names; CheckpointError (which says nothing
    of the outside file) unless ``name`` is relative, normalised and inside the
    run directory once symlinks are resolved."""
    ok = (isinstance(name, str) and name and not os.path.isabs(name) and '\\' not in name
          and os.path.normpath(name) == name and not name.startswith('..'))
    path = os.path.join(run_dir, name) if ok else None
    if ok:
        root = os.path.realpath(run_dir)
        ok = os.path.commonpath([root, os.path.realpath(path)]) == root
    if not ok:
        raise CheckpointError(f"{source}: names a file outside the run directory "
                              f"({name!r:.60}); refusing it")
    return path


def read_checkpoint(run_dir):
    """The verified manifest of the last complete epoch, or None if there is none.

    CheckpointError for a manifest of another format version (format 1 with a
    line saying it is not read), or files that are missing, truncated or
    changed since they were written.
    """
    path = os.path.join(run_dir, MANIFEST)
    manifest = _read_manifest(path)
    if manifest is None:
        return None
    _check_version(path, run_dir, manifest.get('format_version'))
    try:
        files, digests = manifest['files'], manifest['digests']
        epoch, metrics = manifest['epoch'], manifest['metrics']
        config_from_dict(manifest['config'], path)
        for key in ('params', 'states'):
            name = files[key]
            if name is None and key == 'states':
                continue  # a parameter-server run (see checkpoint._states_are_local)
            expected = digests[name]
            _check_file(run_dir, name, expected['size'], expected['sha256'])
        if (files['states'] is None) != (manifest['optimizer'] is None):
            raise CheckpointError(f"{path}: optimizer states without their description")
        if 'best' in manifest:  # manifests before the best epoch was kept have none
            name = manifest['best']['params']
            _check_file(run_dir, name, digests[name]['size'], digests[name]['sha256'])
        if not isinstance(epoch, int) or len(metrics) != epoch:
            raise CheckpointError(f"{path}: epoch {epoch!r} but {len(metrics)} metric records")
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: incomplete manifest (missing {err})") from None
    return manifest


def optimizer_on_servers(run_dir):
    """True if the run's last checkpoint has no optimizer states: a parameter-server
    run, which cannot be resumed. Reads the manifest only (no file hashes); False
    without one. CheckpointError for an unreadable manifest."""
    manifest = _read_manifest(os.path.join(run_dir, MANIFEST))
    files = manifest.get('files') if manifest is not None else None
    return isinstance(files, dict) and 'states' in files and files['states'] is None


def _read_manifest(path):
    """The manifest's JSON object, or None if there is none; CheckpointError."""
    try:
        manifest = read_json(path, MANIFEST_LIMIT)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path}: cannot read ({one_line(err)})") from None
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        raise CheckpointError(f"{path}: not a vgg_gluon checkpoint manifest")
    return manifest


def _check_version(path, run_dir, found):
    if not isinstance(found, int) or found > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {found!r} is newer than this "
                              f"vgg_gluon reads ({FORMAT_VERSION}); upgrade vgg_gluon")
    if found == 1:
        raise CheckpointError(f"{run_dir} is of checkpoint format 1 (optimizer states pickled), "
                              f"which vgg_gluon no longer reads: train it again")
    if found != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {found}, expected {FORMAT_VERSION}")


def _check_file(run_dir, name, size, sha256):
    path = inside(run_dir, name, os.path.join(run_dir, MANIFEST))
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete")
    found = os.path.getsize(path)
    if found != size:
        raise CheckpointError(f"{path} has {found} bytes, the manifest says {size} "
                              f"(truncated or replaced); refusing to load it")
    if file_digest(path)['sha256'] != sha256:
        raise CheckpointError(f"{path} changed since it was written (sha256 differs "
                              f"from the manifest); refusing to load it")


def params_path(run_dir, manifest=None, epoch='last'):
    """The parameters to load: the checkpoint's last (or best) epoch if there is
    a checkpoint, else model.params (or best.params)."""
    if epoch not in EPOCHS:
        raise ConfigError(f"must be last or best, got {epoch!r}", flag='epoch')
    if manifest is not None:
        if epoch == 'best':
            if 'best' not in manifest:
                raise CheckpointError(f"{run_dir} was written before vgg_gluon kept the best "
                                      f"epoch: only --epoch last", flag='epoch')
            return inside(run_dir, manifest['best']['params'], MANIFEST)
        return inside(run_dir, manifest['files']['params'], MANIFEST)
    path = os.path.join(run_dir, 'model.params' if epoch == 'last' else BEST_PARAMS)
    if not os.path.isfile(path):
        raise CheckpointError(f"{run_dir} holds no parameters yet (no {MANIFEST}, no "
                              f"{os.path.basename(path)}): no epoch has finished")
    return path


def load_params(net, path, config, ctxs):
    """Load ``path`` into ``net`` on the devices ``ctxs`` (a list) and run one
    forward pass to check every shape.

    CheckpointError (one line) when the file is unreadable or was saved from
    another architecture, ratio or input size than ``config`` describes.
    """
    what = (f"{config.arch} ratio {config.ratio}"
            f"{' scale-dense' if config.scale_dense else ''} at {config.resize} px")
    try:
        net.load_parameters(path, ctx=ctxs)
        net(mx.nd.zeros((1, 1, config.resize, config.resize), ctx=ctxs[0])).wait_to_read()
    except (mx.base.MXNetError, AssertionError, ValueError, KeyError, OSError) as err:
        raise CheckpointError(f"{path}: cannot load it as the run's {what} network "
                              f"({one_line(err)}); it is corrupt or from another "
                              f"architecture") from None


class LoadedRun(NamedTuple):
    """What ``load_model`` loaded: the network, the run's config, and the epoch
    (1-based) whose parameters ``net`` holds."""
    net: object
    config: Config
    epoch: int


def load_model(run_dir, ctx=None, arch=None, ratio=None, epoch='last'):
    """LoadedRun(net, config, epoch) of a run, with the last complete epoch's
    parameters on ``ctx`` (one device; default the CPU), or the best epoch's
    (``epoch='best'``).

    ``arch``/``ratio``: refuse a run of another architecture or ratio.
    Raises CheckpointError when the run directory cannot be trusted.
    """
    config = load_config(run_dir)
    check_expected(config, run_dir, arch, ratio)
    manifest = read_checkpoint(run_dir)
    net = build_net(config)
    load_params(net, params_path(run_dir, manifest, epoch), config, [ctx or mx.cpu()])
    if manifest is None:        # a finished run's model.params without a checkpoint
        loaded = config.epochs
    else:
        loaded = manifest['best']['epoch'] if epoch == 'best' else manifest['epoch']
    return LoadedRun(net, config, loaded)
