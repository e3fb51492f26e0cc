"""train_ch5 learns on real Fashion-MNIST and prints d2lzh's lines."""
import inspect
import math
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon, init

from vgg_gluon import VGG11, evaluate_accuracy, load_data_fashion_mnist, train_ch5, vgg
from vgg_gluon.errors import TrainingDiverged
from vgg_gluon.training.loop import TrainOptions

LINE = re.compile(r'^epoch (\d+), loss (\d+\.\d{4}), train acc (\d\.\d{3}), '
                  r'test acc (\d\.\d{3}), time (\d+\.\d) sec$')


def small_run(optimizer='adam', lr=0.001, num_epochs=3, train_samples=2000):
    """VGG-11/8 with dense width / 8 at 32 px: learns in seconds on 2 cores.

    (Plain SGD at the book's lr 0.05 sits near chance for the first few hundred
    steps, more than a quick test can afford; Adam leaves it in a few dozen.)
    """
    mx.random.seed(0)
    batch_size = 64
    train_iter, test_iter = load_data_fashion_mnist(batch_size, resize=32, seed=0,
                                                    train_samples=train_samples,
                                                    test_samples=1000)
    net = vgg(VGG11, ratio=8, scale_dense=True)
    net.initialize(init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), optimizer, {'learning_rate': lr})
    history = train_ch5(net, train_iter, test_iter, batch_size, trainer, mx.cpu(), num_epochs)
    return net, test_iter, history


@pytest.mark.slow
def test_learns_on_a_real_slice(capsys):
    net, test_iter, history = small_run()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == 'training on cpu(0)'
    assert all(LINE.match(line) for line in lines[1:]) and len(lines) == 4
    assert [r['epoch'] for r in history] == [1, 2, 3]
    # chance is 0.1: the network must have learnt, and the loss must have fallen
    assert history[-1]['test_acc'] > 0.5
    assert history[-1]['loss'] < history[0]['loss'] < math.log(10) + 0.1
    printed = LINE.match(lines[-1]).groups()
    assert float(printed[3]) == pytest.approx(history[-1]['test_acc'], abs=5e-4)
    assert evaluate_accuracy(test_iter, net, mx.cpu()) == pytest.approx(history[-1]['test_acc'])


def test_divergence_stops_with_a_hint():
    with pytest.raises(TrainingDiverged, match=r'lower the learning rate \(--lr, now 1e\+06\)'):
        small_run(optimizer='sgd', lr=1e6, num_epochs=1, train_samples=256)


def test_several_contexts_split_the_batch(fmnist):
    """ctx as a list: data parallel over two CPU contexts, same answer as one."""
    results = []
    for ctx in (mx.cpu(0), [mx.cpu(0), mx.cpu(1)]):
        mx.random.seed(1)
        train_iter, test_iter = load_data_fashion_mnist(32, resize=32, seed=0, train_samples=128,
                                                        test_samples=64)
        net = vgg(VGG11, ratio=16, scale_dense=True, dropout=0.0)
        net.initialize(init.Xavier(), ctx=ctx)
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.05})
        results.append(train_ch5(net, train_iter, test_iter, 32, trainer, ctx, 1)[0])
        results[-1]['weight'] = net[-1].weight.data(mx.cpu(0)).asnumpy()
    one, two = results
    assert one['loss'] == pytest.approx(two['loss'], rel=1e-4)
    np.testing.assert_allclose(one['weight'], two['weight'], rtol=1e-3, atol=1e-5)


def test_the_books_seven_parameters_then_one_options_object():
    d2lzh = pytest.importorskip('d2lzh')
    ours = inspect.signature(train_ch5).parameters
    assert list(ours) == list(inspect.signature(d2lzh.train_ch5).parameters) + ['options']
    assert ours['options'].kind is inspect.Parameter.KEYWORD_ONLY
    assert ours['options'].default is None


def _tiny():
    mx.random.seed(1)
    train_iter, test_iter = load_data_fashion_mnist(32, resize=32, seed=0, train_samples=64,
                                                    test_samples=32)
    net = vgg(VGG11, ratio=16, scale_dense=True)
    net.initialize(init.Xavier())
    return net, train_iter, test_iter, gluon.Trainer(net.collect_params(), 'sgd',
                                                     {'learning_rate': 0.05})


def test_options_resume_the_count_and_call_the_hooks_around_each_epoch(fmnist, capsys):
    net, train_iter, test_iter, trainer = _tiny()
    calls, losses = [], []

    class CountingLoss(gluon.loss.SoftmaxCrossEntropyLoss):
        def hybrid_forward(self, F, pred, label, sample_weight=None):
            losses.append(pred.shape[0])
            return super().hybrid_forward(F, pred, label, sample_weight)

    options = TrainOptions(start_epoch=1, on_epoch_start=lambda e: calls.append(('start', e)),
                           on_epoch_end=lambda r: calls.append(('end', r['epoch'])),
                           loss=CountingLoss())
    history = train_ch5(net, train_iter, test_iter, 32, trainer, mx.cpu(), 3, options=options)
    assert [r['epoch'] for r in history] == [2, 3]
    assert calls == [('start', 1), ('end', 2), ('start', 2), ('end', 3)]
    assert losses == [32, 32] * 2       # the given loss, on every batch of both epochs
    assert [line.split(',')[0] for line in capsys.readouterr().out.splitlines()[1:]] == [
        'epoch 2', 'epoch 3']


def test_the_extras_are_not_loose_keywords(fmnist):
    net, train_iter, test_iter, trainer = _tiny()
    with pytest.raises(TypeError):
        train_ch5(net, train_iter, test_iter, 32, trainer, mx.cpu(), 1, start_epoch=0)
