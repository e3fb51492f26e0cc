"""The optimizer's states without pickle: arrays in MXNet's NDArray file, the rest as JSON.

MXNet's own ``Trainer.save_states`` pickles ``(updater.states, optimizer)``
and ``load_states`` unpickles it, which runs whatever code the file names.
Here the same content is split in two, neither of which can run code:

- the arrays (SGD's momentum, Adam's mean and variance, AMP's float32 master
  weights) go into one file of ``mx.nd.save`` with a name per array
  (``'state/3/1'``: parameter 3, second array of its state); ``mx.nd.load``
  parses that format in C++ and unpickles nothing;
- a JSON description (the manifest's ``optimizer`` entry) says how the arrays
  nest (a state is None, an NDArray, or a tuple/list of states), and holds what
  ``Optimizer.__dict__`` carries that changes the next update: the update
  counters (``num_update`` and the per-device, per-parameter counts behind
  Adam's bias correction) and the scalar hyper-parameters (momentum, beta1,
  epsilon, wd, ...), which must equal the resuming run's.

The non-scalar attributes (``lr_mult``, ``wd_mult``, ``idx2name``,
``param_dict``) the Trainer rebuilds from the network, as ``load_states``
does for ``param_dict``. A learning-rate scheduler is recorded by its class
only: MXNet's own (Factor, MultiFactor, Poly, Cosine in mxnet 1.9.1) compute
the rate from ``num_update``, catching up from any count, so the restored
counter gives the rate the uninterrupted run had.
"""
import mxnet as mx

from ..runtime import mxnet_internals as internals
from ..errors import CheckpointError, one_line

# set by the Trainer at every step, or changeable on --resume: not compared
_NOT_HYPER = ('lr', 'rescale_grad', 'num_update', 'begin_num_update')


def optimizer_name(optimizer):
    """'sgd', 'adam', 'nag', ...: the name MXNet registers the class under."""
    return type(optimizer).__name__.lower()


def hyper_parameters(optimizer):
    """{attribute: value} of the optimizer's scalar settings (JSON values)."""
    return {k: v for k, v in sorted(vars(optimizer).items())
            if not k.startswith('_') and k not in _NOT_HYPER
            and (v is None or isinstance(v, (bool, int, float, str)))}


def encode(states, optimizer):
    """(arrays, description): ``updater.states`` {index: state} and its optimizer
    as {name: NDArray} for ``mx.nd.save`` and JSON-able data.

    TypeError for a state that is not None, an NDArray or a tuple/list of those.
    """
    arrays = {}

    def spec(state, name):
        if state is None:
            return None
        if isinstance(state, mx.nd.NDArray):
            arrays[name] = state
            return name
        if isinstance(state, (tuple, list)):
            return {type(state).__name__: [spec(s, f'{name}/{i}') for i, s in enumerate(state)]}
        raise TypeError(f"{optimizer_name(optimizer)} keeps a state of type "
                        f"{type(state).__name__}, which vgg_gluon cannot save without pickle")

    entries = [[index, spec(states[index], f'state/{index}')] for index in sorted(states, key=str)]
    counts, current = internals.index_update_counts(optimizer)
    description = {
        'optimizer': optimizer_name(optimizer), 'hyper': hyper_parameters(optimizer),
        'lr_scheduler': _scheduler_name(optimizer), 'lr': optimizer.lr, 'num_update': optimizer.num_update,
        'begin_num_update': optimizer.begin_num_update,
        'index_update_counts': [[device, sorted(c.items(), key=str)]
                                for device, c in sorted(counts.items())],
        'current_device': current, 'states': entries}
    return arrays, description


def decode(arrays, description, source):
    """{index: state} from what ``encode`` returned (arrays as ``mx.nd.load`` gives
    them); CheckpointError if the two do not fit each other exactly."""
    used = set()

    def state(spec):
        if spec is None:
            return None
        if isinstance(spec, str):
            if spec not in arrays or spec in used:
                raise CheckpointError(f"{source}: the optimizer states name an array {spec!r} "
                                      f"that the file does not hold (once)")
            used.add(spec)
            return arrays[spec]
        (kind, items), = spec.items()
        return {'tuple': tuple, 'list': list}[kind](state(s) for s in items)

    try:
        states = {index: state(spec) for index, spec in description['states']}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{source}: malformed optimizer states ({err!r})") from None
    if used != set(arrays):
        raise CheckpointError(f"{source}: holds arrays the optimizer states do not name "
                              f"({', '.join(sorted(set(arrays) - used)[:3])})")
    return states


def save(trainer, path):
    """Write the trainer's optimizer states to ``path`` (an NDArray file, MXNet's
    ``mx.nd.save``); return their JSON description."""
    internals.prepare_trainer(trainer)   # as Trainer.save_states does first
    updater = internals.optimizer_updaters(trainer)[0]   # every device holds the same
    arrays, description = encode(updater.states, updater.optimizer)
    mx.nd.save(path, arrays)
    return description


def load_arrays(path):
    """{name: NDArray} of an NDArray file (C++ parsing, no pickle); CheckpointError."""
    try:
        arrays = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise CheckpointError(f"{path}: not an MXNet NDArray file ({one_line(err)}); "
                              f"refusing to load it") from None
    if isinstance(arrays, list):   # a file of unnamed arrays: only the empty one is ours
        if arrays:
            raise CheckpointError(f"{path}: holds unnamed arrays, not optimizer states")
        arrays = {}
    return arrays


def restore(trainer, description, path):
    """Put saved optimizer states and counters into ``trainer``.

    description: the manifest's JSON of ``save``; path: its NDArray file.
    The trainer's optimizer must be the one the states were written by, with
    the same hyper-parameters. CheckpointError otherwise.
    """
    internals.prepare_trainer(trainer)   # as Trainer.load_states does first
    updaters = internals.optimizer_updaters(trainer)
    optimizer = updaters[0].optimizer
    _check_same_optimizer(optimizer, description, path)
    try:   # all read before anything is changed
        counts = {device: dict(pairs) for device, pairs in description['index_update_counts']}
        num_update = int(description['num_update'])
        begin_num_update = int(description['begin_num_update'])
        current = description['current_device']
        hash(current)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: malformed optimizer counters ({err!r})") from None
    # each device its own arrays, as load_states unpickles them once per device
    per_updater = [decode(load_arrays(path), description, path) for _ in updaters]
    for updater, states in zip(updaters, per_updater):
        updater.states = states
        updater.states_synced = dict.fromkeys(states, False)   # moved to the device at first use
    optimizer.num_update, optimizer.begin_num_update = num_update, begin_num_update
    internals.set_index_update_counts(optimizer, counts, current)


def _check_same_optimizer(optimizer, description, path):
    try:
        name, hyper = description['optimizer'], description['hyper']
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: malformed optimizer description ({err!r})") from None
    if not isinstance(hyper, dict):
        raise CheckpointError(f"{path}: malformed optimizer description (hyper-parameters)")
    if name != optimizer_name(optimizer):
        raise CheckpointError(f"{path} holds the states of {name!r}, this run's optimizer "
                              f"is {optimizer_name(optimizer)!r}")
    if description.get('lr_scheduler') != _scheduler_name(optimizer):
        raise CheckpointError(f"{path} was written with the learning-rate scheduler "
                              f"{description.get('lr_scheduler')}, this run's is "
                              f"{_scheduler_name(optimizer)}")
    mine = hyper_parameters(optimizer)
    differ = sorted(k for k in set(hyper) | set(mine) if hyper.get(k) != mine.get(k))
    if differ:
        raise CheckpointError(f"{path} was written by {name} with " + ', '.join(
            f"{k} {hyper.get(k)!r}" for k in differ) + "; this run's has " + ', '.join(
            f"{k} {mine.get(k)!r}" for k in differ) + " (another MXNet or environment?)")


def _scheduler_name(optimizer):
    """'CosineScheduler', ..., or None (the optimizer's ``lr_scheduler``)."""
    scheduler = optimizer.lr_scheduler
    return None if scheduler is None else type(scheduler).__name__
