"""Optimizer states without pickle: a resumed run equals the uninterrupted one, bit for bit.

Real Fashion-MNIST and a real (small) VGG, trained with the book's loop under
each kind of MXNet optimizer state: none (SGD), one array (SGD with momentum,
NAG), two (Adam), three (centred RMSProp), and on two devices, where the
states live in the kvstore's updater. A checkpoint after epoch 1 is restored
into a fresh network and trainer; epochs 2-3 must then give the same
parameters and metrics as the run that never stopped. The controls show the
comparison sees what is restored: without the update counters (Adam's bias
correction) or without the momentum, the runs differ.
"""
import json
import os

import numpy as np
import pytest

import mxnet as mx
from mxnet import gluon, init

from vgg_gluon.checkpoint import writer as checkpoint, optimizer_state, reader as rundir
from vgg_gluon.runtime import mxnet_internals
from vgg_gluon.config import Config
from vgg_gluon.errors import CheckpointError
from vgg_gluon.training.loop import TrainOptions, train_ch5
from vgg_gluon.models.vgg import build_net
from vgg_gluon.runtime.seeding import seed_epoch, seed_everything
from vgg_gluon.training.runner import load_data

CONFIG = Config(arch='1x32,1x64', ratio=8, scale_dense=True, resize=32, batch_size=64,
                train_samples=512, test_samples=128, seed=3, quiet=True)
OPTIMIZERS = {   # name: a fresh optimizer, as a Trainer would be given it
    'sgd': lambda: mx.optimizer.SGD(learning_rate=0.05),
    'sgd-momentum': lambda: mx.optimizer.SGD(learning_rate=0.05, momentum=0.9),
    'nag': lambda: mx.optimizer.NAG(learning_rate=0.05, momentum=0.9),
    'adam': lambda: mx.optimizer.Adam(learning_rate=0.002),
    'rmsprop-centred': lambda: mx.optimizer.RMSProp(learning_rate=0.001, centered=True),
    # the rate from num_update: 8 steps an epoch, lowered every 5
    'sgd-factor-schedule': lambda: mx.optimizer.SGD(
        learning_rate=0.05, momentum=0.9,
        lr_scheduler=mx.lr_scheduler.FactorScheduler(step=5, factor=0.7, base_lr=0.05)),
}
ONE = [mx.cpu(0)]
TWO = [mx.cpu(0), mx.cpu(1)]   # Trainer's 'device' kvstore: states in its updater


@pytest.fixture(scope='module')
def data(fmnist_dir):
    return load_data(Config(**{**CONFIG.to_dict(), 'data_dir': fmnist_dir}))


def _fresh(make_optimizer, ctxs):
    """A network with its weights drawn and a Trainer, as training.build_model makes them."""
    seed_everything(CONFIG.seed)
    net = build_net(CONFIG)
    net.initialize(init.Xavier(), ctx=ctxs)
    net.hybridize(static_alloc=True, static_shape=True)
    net(mx.nd.zeros((1, 1, CONFIG.resize, CONFIG.resize), ctx=ctxs[0]))
    return net, gluon.Trainer(list(net.collect_params().values()), make_optimizer())


def _epochs(net, trainer, data, ctxs, start, on_epoch_end=None):
    """Epochs start+1..3 of the book's loop, each seeded by (seed, epoch) as training.run does."""
    train_iter, test_iter = data

    def on_epoch_start(epoch):
        train_iter.set_epoch(epoch)
        seed_epoch(CONFIG.seed, epoch)
    options = TrainOptions(start_epoch=start, on_epoch_start=on_epoch_start,
                           on_epoch_end=on_epoch_end)
    history = train_ch5(net, train_iter, test_iter, CONFIG.batch_size, trainer, ctxs, 3,
                        options=options)
    return [{k: v for k, v in r.items() if k != 'time'} for r in history]


def _uninterrupted(name, ctxs, data, run_dir):
    """(parameters, metrics of epochs 2-3) of a run that saves a checkpoint after epoch 1."""
    net, trainer = _fresh(OPTIMIZERS[name], ctxs)
    writer = checkpoint.CheckpointWriter(str(run_dir), CONFIG)
    history = _epochs(net, trainer, data, ctxs, 0,
                      lambda r: r['epoch'] == 1 and writer.save(net, trainer, r))
    return _weights(net), history[1:]


def _resumed(name, ctxs, data, run_dir, tamper=None):
    net, trainer = _fresh(OPTIMIZERS[name], ctxs)
    manifest = rundir.read_checkpoint(str(run_dir))
    assert manifest['epoch'] == 1 and manifest['optimizer']['optimizer'] == name.split('-')[0]
    checkpoint.restore(str(run_dir), manifest, net, trainer, CONFIG, ctxs)
    if tamper is not None:
        tamper(trainer)
    history = _epochs(net, trainer, data, ctxs, 1)
    return _weights(net), history


def _weights(net):
    return {name: p.data().asnumpy() for name, p in net._collect_params_with_prefix().items()}


def _same(a, b):
    return sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.parametrize('name, ctxs', [(name, ONE) for name in OPTIMIZERS]
                         + [('adam', TWO), ('sgd-momentum', TWO)],
                         ids=lambda v: v if isinstance(v, str) else f'{len(v)}dev')
def test_resume_equals_the_uninterrupted_run(name, ctxs, data, tmp_path):
    weights, history = _uninterrupted(name, ctxs, data, tmp_path)
    assert history[-1]['loss'] < history[0]['loss'] * 1.5   # it trains, not diverges
    resumed_weights, resumed_history = _resumed(name, ctxs, data, tmp_path)
    assert resumed_history == history
    assert _same(resumed_weights, weights)


def _forget_counters(trainer):
    updater = mxnet_internals.optimizer_updaters(trainer)[0]
    updater.optimizer.num_update = 0
    mxnet_internals.set_index_update_counts(updater.optimizer, {0: {}}, 0)


def _forget_states(trainer):
    for updater in mxnet_internals.optimizer_updaters(trainer):
        updater.states, updater.states_synced = {}, {}


@pytest.mark.slow
@pytest.mark.parametrize('name, tamper', [('adam', _forget_counters),
                                          ('sgd-momentum', _forget_states)])
def test_the_comparison_sees_a_lost_counter_or_state(name, tamper, data, tmp_path):
    weights, history = _uninterrupted(name, ONE, data, tmp_path)
    tampered, _ = _resumed(name, ONE, data, tmp_path, tamper)
    assert not _same(tampered, weights)


@pytest.mark.slow
def test_the_states_file_is_an_ndarray_file_and_the_rest_json(data, tmp_path):
    _uninterrupted('adam', ONE, data, tmp_path)
    manifest = rundir.read_checkpoint(str(tmp_path))
    arrays = mx.nd.load(os.path.join(str(tmp_path), manifest['files']['states']))
    described = manifest['optimizer']
    assert described['optimizer'] == 'adam' and described['hyper']['beta1'] == 0.9
    n_params = len(list(build_net(CONFIG).collect_params().keys()))
    assert [index for index, _ in described['states']] == list(range(n_params))
    assert sorted(arrays) == sorted(f'state/{i}/{j}' for i in range(n_params) for j in (0, 1))
    batches = -(-CONFIG.train_samples // CONFIG.batch_size)
    assert described['num_update'] == batches   # one epoch's steps: Adam's t
    assert json.loads(json.dumps(described)) == described


@pytest.mark.slow
def test_states_of_another_optimizer_are_refused(data, tmp_path):
    _uninterrupted('adam', ONE, data, tmp_path)
    manifest = rundir.read_checkpoint(str(tmp_path))
    scheduled = mx.lr_scheduler.CosineScheduler(max_update=100, base_lr=0.002)
    for make, word in ((OPTIMIZERS['sgd-momentum'], "'adam'"),
                       (lambda: mx.optimizer.Adam(learning_rate=0.002, beta1=0.8), 'beta1 0.9'),
                       (lambda: mx.optimizer.Adam(lr_scheduler=scheduled), 'CosineScheduler')):
        net, trainer = _fresh(make, ONE)
        with pytest.raises(CheckpointError) as err:
            checkpoint.restore(str(tmp_path), manifest, net, trainer, CONFIG, ONE)
        assert word in str(err.value) and '\n' not in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize('breaker, word', [
    (lambda d: d['states'].append([99, 'state/99']), 'does not hold'),
    (lambda d: d['states'].pop(), 'do not name'),
    (lambda d: d['states'][0].__setitem__(1, {'set': []}), 'malformed'),
    (lambda d: d.pop('num_update'), 'malformed'),
])
def test_a_description_that_does_not_fit_its_arrays_is_refused(breaker, word, data, tmp_path):
    _uninterrupted('adam', ONE, data, tmp_path)
    manifest = rundir.read_checkpoint(str(tmp_path))
    breaker(manifest['optimizer'])
    net, trainer = _fresh(OPTIMIZERS['adam'], ONE)
    with pytest.raises(CheckpointError) as err:
        checkpoint.restore(str(tmp_path), manifest, net, trainer, CONFIG, ONE)
    assert word in str(err.value)


def test_encode_refuses_a_state_it_cannot_save_without_pickle():
    with pytest.raises(TypeError, match='without pickle'):
        optimizer_state.encode({0: 'a string'}, mx.optimizer.SGD())
