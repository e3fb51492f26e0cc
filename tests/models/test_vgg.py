"""The network: the book's shapes, ratio scaling, hybridized == imperative."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import init, nd

from vgg_gluon import VGG11, parse_arch, scale_arch, vgg, vgg_block
from vgg_gluon.models.architectures import ArchError

BOOK_SHAPES = [(1, 64, 112, 112), (1, 128, 56, 56), (1, 256, 28, 28), (1, 512, 14, 14),
               (1, 512, 7, 7), (1, 4096), (1, 4096), (1, 4096), (1, 4096), (1, 10)]


def shapes(net, X):
    out = []
    for blk in net:
        X = blk(X)
        out.append(X.shape)
    return out


def test_book_shapes_at_224():
    """Seed 000's printout: five blocks, then the dense layers."""
    net = vgg(VGG11)
    net.initialize(init.Xavier())
    assert shapes(net, nd.random.uniform(shape=(1, 1, 224, 224))) == BOOK_SHAPES


def test_vgg_block_halves_and_sets_channels():
    blk = vgg_block(2, 32)
    blk.initialize()
    assert blk(nd.zeros((3, 5, 20, 20))).shape == (3, 32, 10, 10)
    convs = [layer for layer in blk if isinstance(layer, mx.gluon.nn.Conv2D)]
    assert len(convs) == 2 and all(c._kwargs['kernel'] == (3, 3) and c._kwargs['pad'] == (1, 1)
                                   for c in convs)


@pytest.mark.parametrize('ratio', [1, 4, 8, 64])
def test_ratio_divides_conv_channels(ratio):
    net = vgg(VGG11, ratio=ratio)
    net.initialize()
    got = shapes(net, nd.zeros((2, 1, 96, 96)))
    assert [s[1] for s in got[:5]] == [c // ratio for _, c in VGG11]
    assert got[5] == (2, 4096) and got[-1] == (2, 10)
    assert scale_arch(VGG11, ratio) == tuple((n, c // ratio) for n, c in VGG11)


def test_scale_dense_divides_dense_width():
    net = vgg(VGG11, ratio=8, scale_dense=True)
    net.initialize()
    got = shapes(net, nd.zeros((1, 1, 64, 64)))
    assert got[5] == (1, 512) and got[7] == (1, 512) and got[-1] == (1, 10)


@pytest.mark.parametrize('ratio', [0, 65, -1, 2.5, True])
def test_bad_ratio_is_refused(ratio):
    with pytest.raises(ArchError, match='ratio must be an integer from 1 to 64'):
        vgg(VGG11, ratio=ratio)


def test_parse_arch_names_and_strings():
    assert parse_arch('vgg11') == VGG11
    assert parse_arch('1x8,2x16') == ((1, 8), (2, 16))
    for bad in ('vgg99', '1x8,', '0x8', 'ax8', ''):
        with pytest.raises(ArchError, match='unknown architecture'):
            parse_arch(bad)


def test_hybridized_equals_imperative():
    net = vgg(VGG11, ratio=8)
    net.initialize(init.Xavier())
    X = nd.random.uniform(shape=(4, 1, 64, 64))
    imperative = net(X).asnumpy()          # Dropout is identity outside training
    net.hybridize(static_alloc=True, static_shape=True)
    hybrid = net(X).asnumpy()
    np.testing.assert_allclose(hybrid, imperative, rtol=1e-5, atol=1e-6)
    assert np.abs(imperative).sum() > 0


def test_gradients_reach_every_parameter():
    net = vgg(VGG11, ratio=16)
    net.initialize(init.Xavier())
    X = nd.random.uniform(shape=(2, 1, 32, 32))
    with mx.autograd.record():
        loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()(net(X), nd.array([1, 2])).sum()
    loss.backward()
    for name, param in net.collect_params().items():
        assert np.abs(param.grad().asnumpy()).sum() > 0, name


def test_get_model_by_name_as_the_zoos_do():
    from mxnet.gluon import nn
    from vgg_gluon import get_model
    from vgg_gluon.models.architectures import ARCH_NAMES
    from vgg_gluon.models.vgg import features_and_head
    for name in ARCH_NAMES:
        net = get_model(name, ratio=8, scale_dense=True)
        blocks, head = features_and_head(net)
        assert len(blocks) == 5 and [type(layer) for layer in head] == [
            nn.Dense, nn.Dropout, nn.Dense, nn.Dropout, nn.Dense]
        assert len(list(net)) == 10  # the book's flat Sequential: for blk in net
    with pytest.raises(ArchError) as err:
        get_model('vgg12')
    assert 'vgg16-c-bn' in str(err.value) and err.value.flag == 'arch'  # lists the names


ALEXNET_SHAPES = [(1, 96, 54, 54), (1, 96, 26, 26), (1, 256, 26, 26), (1, 256, 12, 12),
                  (1, 384, 12, 12), (1, 384, 12, 12), (1, 256, 12, 12), (1, 256, 5, 5),
                  (1, 4096), (1, 4096), (1, 4096), (1, 4096), (1, 10)]


def test_the_books_alexnet():
    """d2l's AlexNet layer by layer: the book's printout of its per-layer shapes."""
    from vgg_gluon import get_model
    net = get_model('alexnet')
    net.initialize(init.Xavier())
    X, got = nd.random.uniform(shape=(1, 1, 224, 224)), []
    for child in net:
        for layer in (child if isinstance(child, mx.gluon.nn.HybridSequential) else [child]):
            X = layer(X)
            got.append(X.shape)
    assert got == ALEXNET_SHAPES
    assert sum(p.data().size for p in net.collect_params().values()) == 46_764_746
    assert not any(type(layer).__name__ == 'LocalResponseNorm' for c in net for layer in
                   (c if isinstance(c, mx.gluon.nn.HybridSequential) else [c]))  # d2l has none


def test_alexnet_sizes_and_ratio():
    from vgg_gluon.models.alexnet import ALEXNET_MIN_SIZE
    from vgg_gluon.models.registry import get_model
    net = get_model('alexnet', ratio=4)
    net.initialize()
    assert net(nd.zeros((2, 1, ALEXNET_MIN_SIZE, ALEXNET_MIN_SIZE))).shape == (2, 10)
    with pytest.raises(mx.base.MXNetError):
        net(nd.zeros((2, 1, ALEXNET_MIN_SIZE - 1, ALEXNET_MIN_SIZE - 1)))
    with pytest.raises(ArchError, match='from 1 to 96'):
        get_model('alexnet', ratio=97)
