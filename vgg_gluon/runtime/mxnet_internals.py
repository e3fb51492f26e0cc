"""Every MXNet private attribute vgg_gluon reads, in one place.

MXNet 1.9.1 is MXNet's last release, so these names cannot move under us any
more; they are still private, and keeping each behind one small function says
where the project leans on MXNet's insides and why. Each was checked against
mxnet 1.9.1 (python/mxnet/gluon/{nn,trainer}.py, python/mxnet/kvstore).
No other module reads an attribute of an MXNet object that starts with ``_``.
"""
import contextlib

# ---- layers (summary, test-time evaluation) ------------------------------------
# Gluon keeps a layer's hyper-parameters only in the keyword dictionary it
# hands to the operator; there is no public getter for kernel, stride or pad.


def conv_geometry(layer):
    """(kernel, stride, pad) along the height of a Conv2D or 2-D pooling layer.

    Gluon's ``_kwargs`` (the operator's arguments) is the only place that
    holds them in mxnet 1.9.1; VGG's kernels, strides and pads are square.
    """
    kwargs = layer._kwargs
    return kwargs['kernel'][0], kwargs['stride'][0], kwargs['pad'][0]


def conv_groups(layer):
    """A Conv2D's number of groups (``_kwargs['num_group']``, mxnet 1.9.1)."""
    return layer._kwargs['num_group']


def conv_channels(layer):
    """A Conv2D's output channels, known before initialisation (``_channels``)."""
    return layer._channels


def dense_units(layer):
    """A Dense layer's output units, known before initialisation (``_units``)."""
    return layer._units


def activation_type(activation):
    """'relu', ... of an ``nn.Activation`` (``_act_type``, mxnet 1.9.1)."""
    return activation._act_type


def dropout_rate(layer):
    """An ``nn.Dropout``'s rate (``_rate``, mxnet 1.9.1)."""
    return layer._rate


# ---- the Trainer (checkpoints, AMP, distributed) -------------------------------


def trainer_kvstore(trainer):
    """The Trainer's KVStore, or None (``_kvstore``; set up at the first step)."""
    return trainer._kvstore


def updates_on_kvstore(trainer):
    """Whether the optimizer runs in the kvstore (``_update_on_kvstore``):
    on the servers for dist_* kvstores, where no worker holds its states."""
    return bool(trainer._update_on_kvstore)


def optimizer_updaters(trainer):
    """The updaters holding the optimizer states, one per device.

    With update_on_kvstore the kvstore's own updater (``_kvstore._updater``),
    else the Trainer's ``_updaters``; the states are ``updater.states``
    {parameter index: state}, the index into ``trainer_params``.
    """
    if trainer._update_on_kvstore:
        return [trainer._kvstore._updater]
    return trainer._updaters


def trainer_params(trainer):
    """The Trainer's parameters in index order (``_params``), as the optimizer
    states' indices refer to them."""
    return trainer._params


def set_update_count(optimizer, count):
    """Make ``optimizer`` count ``count`` steps taken for every parameter.

    MXNet's optimizer keeps the count per parameter index and per device in
    ``_all_index_update_counts`` ({device: {index: count}}, mxnet 1.9.1) and
    their maximum in the public ``num_update``, which the learning-rate
    scheduler reads (and Adam's bias correction the per-index one). A
    resumed run sets it to the steps the checkpoint had taken, whether or
    not its optimizer states carried the count.
    """
    counts = optimizer._all_index_update_counts
    indices = set(optimizer.param_dict) | {i for c in counts.values() for i in c}
    for device_counts in counts.values():
        for index in indices:
            device_counts[index] = count
    optimizer.num_update = count
    optimizer.begin_num_update = count  # where a device's first count starts


def count_update(optimizer, index):
    """(lr, wd) of parameter ``index`` for the step being taken, counted as
    MXNet's own optimizers do (``_update_count``, ``_get_lr``, ``_get_wd``,
    mxnet 1.9.1): the step count the scheduler reads, the rate it gives,
    the decay times the parameter's ``wd_mult``."""
    optimizer._update_count(index)
    return optimizer._get_lr(index), optimizer._get_wd(index)


def nag_update(optimizer, index, weight, grad, state, multi_precision):
    """MXNet's own NAG step (``NAG._update_impl``, mxnet 1.9.1), for the cases
    ``optimizers.NAG`` leaves to it (no weight decay, float16, clipping)."""
    import mxnet as mx
    return mx.optimizer.NAG._update_impl(optimizer, index, weight, grad, state,
                                         multi_precision=multi_precision)


def sgd_update(optimizer, indices, weights, grads, states, multi_precision):
    """MXNet's own SGD step (``SGD._update_impl``, mxnet 1.9.1), for the cases
    ``optimizers.SGD`` leaves to it (sparse or float16 weights, plain SGD with decay)."""
    import mxnet as mx
    return mx.optimizer.SGD._update_impl(optimizer, indices, weights, grads, states,
                                         multi_precision=multi_precision)


def amp_loss_scaler(trainer):
    """The dynamic loss scaler ``amp.init_trainer`` attached, or None
    (``_amp_loss_scaler``; mxnet.contrib.amp 1.9.1 stores it there)."""
    return getattr(trainer, '_amp_loss_scaler', None)


# ---- the parameter server -------------------------------------------------------


def kvstore_barrier(kv):
    """Wait until every worker of a dist_* kvstore has reached this point.

    ``KVStore._barrier`` is MXNet's own global barrier (MXKVStoreBarrier); it
    is private in mxnet 1.9.1 although tools/launch.py's jobs rely on it.
    """
    kv._barrier()


def leave_without_exit_barrier(kv):
    """Let this worker leave a dist_* job without waiting for the other workers.

    MXNet 1.9.1's KVStoreDist destructor (src/kvstore/kvstore_dist.h), run
    when the KVStore is freed, at the latest at exit, waits at a barrier of
    all workers before it lets the servers stop. A worker that stops early
    (a signal, an error) would wait there for workers that are waiting for
    it: the process never ends. The C API's MXKVStoreSetBarrierBeforeExit
    turns that barrier off; mxnet 1.9.1's Python KVStore does not wrap it, so
    this calls it through ``mxnet.base._LIB`` with the public ``kv.handle``.
    Checked against mxnet 1.9.1 (include/mxnet/c_api.h, src/c_api/c_api.cc).
    """
    import ctypes
    from mxnet.base import _LIB, check_call
    check_call(_LIB.MXKVStoreSetBarrierBeforeExit(kv.handle, ctypes.c_int(0)))


# ---- the optimizer's update counters (checkpoints without pickle) ---------------
# Trainer.save_states pickles the whole Optimizer; saving it as JSON instead
# needs the per-device, per-parameter update counts, which have no public
# getter. Adam's bias correction reads them (t = the parameter's count), so a
# resumed run that lost them would not equal the uninterrupted one.


def index_update_counts(optimizer):
    """({device id: {parameter index: updates}}, the device id whose counts are
    current) of an Optimizer (``_all_index_update_counts`` and
    ``_index_update_count``, which aliases one of them; checked against mxnet 1.9.1,
    python/mxnet/optimizer/optimizer.py)."""
    counts = optimizer._all_index_update_counts
    current = next((device for device, c in counts.items()
                    if c is optimizer._index_update_count), None)
    return {device: dict(c) for device, c in counts.items()}, current


def set_index_update_counts(optimizer, counts, current):
    """Restore what ``index_update_counts`` returned, with the same aliasing
    (``Optimizer._set_current_context`` switches between the dicts per device;
    checked against mxnet 1.9.1)."""
    counts = {device: dict(c) for device, c in counts.items()}
    counts.setdefault(0, {})   # the Optimizer constructor's own entry
    optimizer._all_index_update_counts = counts
    optimizer._index_update_count = counts[current if current in counts else 0]


def prepare_trainer(trainer):
    """Create the Trainer's kvstore and initialise its parameters there if not yet
    done (``_kv_initialized``, ``_init_kvstore``, ``_params_to_init``,
    ``_init_params``), as Trainer.save_states and load_states do first: with
    several devices the optimizer states live in the kvstore's updater, which
    exists only afterwards. Checked against mxnet 1.9.1 (gluon/trainer.py)."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()


@contextlib.contextmanager
def batchnorm_running_stats(blocks):
    """Within the block, every ``nn.BatchNorm`` under ``blocks`` normalises with its
    running statistics even when autograd records in training mode.

    Why: a gradient through max pooling needs training mode on CPU (oneDNN's
    pooling keeps the argmax workspace only then; in predict mode its backward
    reads an absent workspace and gives wrong, run-to-run different values), but
    training mode would make BatchNorm use the one image's own statistics.
    Gluon 1.9.1 keeps the switch in the private ``_kwargs['use_global_stats']``,
    read at each imperative forward (not by a hybridized block's cached graph).
    """
    from mxnet.gluon import nn
    layers = []

    def visit(block):
        if isinstance(block, nn.BatchNorm):
            layers.append(block)
        for child in block._children.values():
            visit(child)
    for block in blocks:
        visit(block)
    saved = [layer._kwargs['use_global_stats'] for layer in layers]
    for layer in layers:
        layer._kwargs['use_global_stats'] = True
    try:
        yield
    finally:
        for layer, value in zip(layers, saved):
            layer._kwargs['use_global_stats'] = value
