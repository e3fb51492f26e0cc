"""train_ch5 learns on real Fashion-MNIST and prints d2lzh's lines."""
import math
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon, init

from vgg_gluon import VGG11, evaluate_accuracy, load_data_fashion_mnist, train_ch5, vgg
from vgg_gluon.loop import TrainingDiverged

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
