"""The VGG family: configurations as data, shapes, parameter counts, one training step each."""
import math

import numpy as np
import pytest

import vgg_gluon  # noqa: F401  (threads before mxnet)
import mxnet as mx
from mxnet import autograd, gluon, init

from vgg_gluon import VGG11
from vgg_gluon.models.architectures import (ARCH_NAMES, FAMILY, ArchError, ArchSpec, format_spec, parse_arch,
                            parse_spec)
from vgg_gluon.models.vgg import build_net
from vgg_gluon.config import Config, ConfigError
from vgg_gluon.models.layers import LocalResponseNorm
from vgg_gluon.models.vgg import vgg_from_spec
from vgg_gluon.models.layer_table import summarize

# Exact counts with 3x224x224 inputs and 1000 classes (the paper's Table 2 rounds
# them to 133, 133, 133, 134, 138, 144 million). D and E are the well-known
# 138,357,544 and 143,667,240 of every model zoo; C is D less three 3x3 convs
# turned 1x1: 8 * (256**2 + 2 * 512**2) = 4,718,592 fewer.
PAPER_PARAMS = {
    'vgg11': (132_863_336, 133), 'vgg11-lrn': (132_863_336, 133),
    'vgg13': (133_047_848, 133), 'vgg16-c': (133_638_952, 134),
    'vgg16': (138_357_544, 138), 'vgg19': (143_667_240, 144),
}
# torchvision's vgg*_bn counts (gamma and beta trainable; MXNet also counts the
# running mean and variance, two more per channel).
BN_TRAINABLE = {'vgg11': 132_868_840, 'vgg13': 133_053_736, 'vgg16': 138_365_992,
                'vgg19': 143_678_248}


@pytest.mark.parametrize('name', list(FAMILY))
def test_paper_parameter_counts(name):
    exact, millions = PAPER_PARAMS[name]
    table = summarize(name, ratio=1, resize=224, in_channels=3, classes=1000)
    assert table['totals']['params'] == exact
    assert round(exact / 1e6) == millions
    assert table['totals']['output_shape'] == [1000]
    assert [b['output_shape'] for b in table['blocks']] == [
        [64, 112, 112], [128, 56, 56], [256, 28, 28], [512, 14, 14], [512, 7, 7]]


@pytest.mark.parametrize('name', list(FAMILY))
def test_batch_norm_counts(name):
    plain = PAPER_PARAMS[name][0]
    t = summarize(name + '-bn', ratio=1, resize=224, in_channels=3, classes=1000)['totals']
    channels = sum(n * c for n, c in FAMILY[name].conv_arch)
    assert t['trainable'] == plain + 2 * channels      # gamma, beta
    assert t['params'] == plain + 4 * channels         # + running mean, variance
    if name in BN_TRAINABLE:
        assert t['trainable'] == BN_TRAINABLE[name]


def test_layer_structure_of_c_lrn_and_bn():
    types = [r['type'] for r in summarize('vgg16-c', 1, 224, 3, 1000)['layers']]
    convs = [t for t in types if t.startswith('conv')]
    assert len(convs) == 13
    assert [t.split('-')[0] for t in convs].count('conv1') == 3
    assert convs[6] == 'conv1-256+relu' and convs[9] == convs[12] == 'conv1-512+relu'
    lrn = [r['type'] for r in summarize('vgg11-lrn', 1, 224, 3, 1000)['layers']]
    assert lrn[:3] == ['conv3-64+relu', 'LRN', 'maxpool'] and lrn.count('LRN') == 1
    bn = [r['type'] for r in summarize('vgg13-bn', 1, 224, 3, 1000)['layers']]
    assert bn[:4] == ['conv3-64', 'batchnorm', 'relu', 'conv3-64']  # BN before ReLU


def test_names_and_custom_strings():
    assert parse_arch('vgg11') == VGG11                         # the book's format still works
    assert parse_arch('1x64,1x128,2x256') == ((1, 64), (1, 128), (2, 256))
    assert set(ARCH_NAMES) >= {'vgg11', 'vgg11-lrn', 'vgg13', 'vgg16-c', 'vgg16', 'vgg19',
                               'vgg16-c-bn', 'vgg19-bn'}
    for name in ARCH_NAMES:
        assert parse_spec(format_spec(parse_spec(name))) == parse_spec(name)
    assert parse_spec(format_spec(FAMILY['vgg16-c'])) == FAMILY['vgg16-c']
    custom = parse_spec('1x32,2x64:3-1-lrn-bn')
    assert custom == ArchSpec(((1, 32), (2, 64)), ((3,), (3, 1)), lrn=True, batch_norm=True)
    for bad in ('vgg12', '', '1x64:2', '1x64:3-3', '0x64', 'vgg11-bn-lrn', '2x64,x'):
        with pytest.raises(ArchError, match='vgg16-c'):   # the message lists the names
            parse_spec(bad)
    with pytest.raises(ConfigError) as err:
        Config(arch='vgg12').validate()
    assert err.value.flag == 'arch'


def test_lrn_is_alexnets_formula():
    """b_c = a_c / (k + alpha * sum of a^2 over the n channels around c) ** beta."""
    x = np.random.RandomState(0).rand(2, 7, 3, 3).astype('float32') * 30
    y = LocalResponseNorm()(mx.nd.array(x)).asnumpy()
    ref = np.empty_like(x)
    for c in range(7):
        ref[:, c] = x[:, c] / (2 + 1e-4 * (x[:, max(0, c - 2):c + 3] ** 2).sum(axis=1)) ** 0.75
    np.testing.assert_allclose(y, ref, rtol=1e-5)
    assert abs(y - x).max() > 1  # it does normalise at these magnitudes


@pytest.fixture(scope='module')
def batch(fmnist):
    """32 real Fashion-MNIST training images at 32 px, (32, 1, 32, 32) in [0, 1]."""
    from vgg_gluon.data.fashion_mnist import resize_images
    images, labels = fmnist['train']
    X = resize_images(images[:32], 32)[:, None].astype('float32') / 255
    return mx.nd.array(X), mx.nd.array(labels[:32])


@pytest.mark.parametrize('name', ARCH_NAMES)
def test_every_configuration_trains_a_step(name, batch):
    """Ratio 8 (dense layers scaled too, to keep it quick), 32 px, one SGD step."""
    X, y = batch
    config = Config(arch=name, ratio=8, scale_dense=True, resize=32).validate()
    net = build_net(config)
    mx.random.seed(0)
    net.initialize(init.Xavier())
    net.hybridize()
    assert net(X).shape == (32, 10)
    before = {k: p.data().copy() for k, p in net.collect_params().items()}
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.05})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        l = loss(net(X), y).mean()
    l.backward()
    trainer.step(1)
    assert math.isfinite(l.asscalar()) and 1.5 < l.asscalar() < 4  # about ln(10) at the start
    for key, p in net.collect_params().items():
        assert not np.array_equal(p.data().asnumpy(), before[key].asnumpy()), key
    num_bn = sum(1 for k in before if k.endswith('running_mean'))
    assert (num_bn > 0) == name.endswith('-bn')


def test_ratio_and_classes_apply_to_all():
    net = vgg_from_spec('vgg16-c-bn', ratio=4, num_classes=7)
    net.initialize()
    assert net(mx.nd.zeros((2, 3, 64, 64))).shape == (2, 7)
    convs = [layer for blk in list(net)[:5] for layer in blk
             if isinstance(layer, gluon.nn.Conv2D)]
    assert [c.weight.shape[0] for c in convs][-3:] == [128, 128, 128]
    assert convs[0].weight.shape[1] == 3 and convs[-1].weight.shape[2:] == (1, 1)


def test_train_cli_selects_any_configuration(tmp_path, capsys):
    from vgg_gluon import train
    from vgg_gluon.checkpoint.reader import load_model
    out = tmp_path / 'run'
    assert train.main(['--arch', 'vgg16-c-bn', '--ratio', '8', '--scale-dense', '--resize', '32',
                       '--epochs', '1', '--train-samples', '128', '--test-samples', '64',
                       '--quiet', '--out', str(out)]) == 0
    net, config, _ = load_model(str(out))
    assert config.arch == 'vgg16-c-bn'
    kinds = [type(layer).__name__ for layer in list(net)[2]]
    assert kinds == ['Conv2D', 'BatchNorm', 'Activation'] * 3 + ['MaxPool2D']
    assert list(net)[2][6].weight.shape[2:] == (1, 1)
    capsys.readouterr()
    try:
        status = train.main(['--arch', 'vgg12', '--out', str(tmp_path / 'bad')])
    except SystemExit as exit_info:
        status = exit_info.code
    err = capsys.readouterr().err
    assert status == 2 and err.count('\n') == 1
    assert '--arch' in err and 'vgg11-lrn' in err and 'vgg16-c' in err and 'vgg19-bn' in err
