"""Feature maps and receptive fields of one unit, on a small real-shaped VGG."""
import mxnet as mx
import numpy as np
import pytest

import vgg_gluon  # noqa: F401  (numpy names mxnet needs)
from vgg_gluon.models.layer_table import layer_table
from vgg_gluon.models.vgg import features_and_head, vgg_from_spec
from vgg_gluon.visual.activations import block_outputs, first_filters, grid, strongest, to_uint8
from vgg_gluon.visual.fields import (Box, effective_field, field_span, mass_area, mass_box,
                                   theoretical_box)

SIZE = 32


@pytest.fixture(scope='module')
def net():
    net = vgg_from_spec('vgg11', ratio=8, scale_dense=True)
    net.initialize()
    net(mx.nd.zeros((1, 1, SIZE, SIZE)))
    rng = np.random.RandomState(0)   # the same weights every run, whatever MXNet's generator did
    for param in net.collect_params().values():
        shape = param.shape
        fan_in = max(1, int(np.prod(shape[1:])))
        param.set_data(mx.nd.array(rng.normal(scale=(2 / fan_in) ** 0.5, size=shape)))
    return net


@pytest.fixture(scope='module')
def blocks(net):
    return layer_table(net, (1, 1, SIZE, SIZE))['blocks']


def test_blocks_halve_height_and_width_and_double_channels(net):
    outputs = block_outputs(net, mx.nd.ones((1, 1, SIZE, SIZE)))
    shapes = [o.shape[1:] for o in outputs]
    assert shapes == [(8, 16, 16), (16, 8, 8), (32, 4, 4), (64, 2, 2), (64, 1, 1)]


def test_strongest_grid_and_filters(net):
    maps = np.stack([np.full((2, 2), v) for v in (1.0, 3.0, 2.0)])
    assert strongest(maps, 2) == [1, 2]
    assert grid(np.zeros((5, 4, 4)), columns=2, scale=2, gap=1).shape == (3 * 9 - 1, 2 * 9 - 1)
    assert to_uint8(np.array([[1.0, 3.0]])).tolist() == [[0, 255]]
    assert first_filters(net).shape == (8, 3, 3)


def test_the_theoretical_box_is_the_layer_tables_field(blocks):
    # block 1 (conv3, pool2): field 4, jump 2; unit (3, 5) is centred at 0.5 + 0.5 + 2 * index
    assert (blocks[0]['rf'], blocks[0]['jump']) == (4, 2)
    assert theoretical_box(blocks[0], 3, 5, SIZE) == Box(5, 9, 9, 13)
    for b in blocks:
        first, end = field_span(b, b['output_shape'][1] // 2)
        assert end - first == b['rf']                       # unclipped: the table's size
    corner = theoretical_box(blocks[2], 0, 0, SIZE)        # clipped at the image's edge
    assert corner.top == 0 and corner.left == 0 and corner.height < blocks[2]['rf']


def test_the_effective_field_lies_inside_the_theoretical_one_and_is_smaller(net, blocks):
    rng = np.random.RandomState(0)
    X = mx.nd.array(rng.uniform(size=(1, 1, SIZE, SIZE)))
    outputs = block_outputs(net, X)
    for block in (1, 2, 3):
        # the most active position: a unit that is zero after its ReLU has no gradient
        total = outputs[block - 1][0].sum(axis=0)
        row, col = np.unravel_index(np.argmax(total), total.shape)
        field = effective_field(net, X, block, row, col)
        box = theoretical_box(blocks[block - 1], row, col, SIZE)
        assert field.shape == (SIZE, SIZE) and field.sum() > 0
        outside = field.copy()
        outside[box.top:box.bottom, box.left:box.right] = 0
        assert outside.max() == 0             # nothing outside the theoretical field
        assert mass_box(field, 0.5) <= box.height + 1   # half its mass in at most the box
        assert 0 < mass_area(field) <= box.height * box.width
    assert X.grad is None                     # the caller's input is left alone


def test_mass_area_counts_the_largest_pixels_holding_the_fraction():
    field = np.zeros((6, 6))
    assert mass_area(field) == 0
    field[2, 3] = 5.0
    assert mass_area(field) == 1
    field[:4, :4] = 1.0                   # 16 equal pixels: 95 % of them is 15.2, so 16
    assert mass_area(field, 0.95) == 16 and mass_area(field, 0.5) == 8
    field[0, 0] = 16.0                    # one pixel with half the mass
    assert mass_area(field, 0.5) == 1


def test_the_effective_field_is_the_same_whatever_ran_before(net):
    """oneDNN's max-pooling backward is wrong in predict mode (no argmax workspace):
    the values then changed with whatever had run before, and could be all zeros."""
    X = mx.nd.array(np.random.RandomState(1).uniform(size=(1, 1, SIZE, SIZE)))
    first = effective_field(net, X, 2, 3, 3)
    other = vgg_from_spec('vgg11', ratio=8)
    other.initialize()
    other(mx.nd.ones((4, 1, SIZE, SIZE))).wait_to_read()
    np.testing.assert_array_equal(effective_field(net, X, 2, 3, 3), first)
    # the gradient by finite differences at the pixel that matters most
    r, c = np.unravel_index(np.argmax(first), first.shape)
    blocks = features_and_head(net)[0][:2]

    def unit(image):
        Y = image
        for blk in blocks:
            Y = blk(Y)
        return float(Y[0, :, 3, 3].sum().asscalar())
    step = np.zeros((1, 1, SIZE, SIZE), np.float32)
    step[0, 0, r, c] = 1e-2
    slope = (unit(X + mx.nd.array(step)) - unit(X - mx.nd.array(step))) / 2e-2
    assert abs(abs(slope) - first[r, c]) < 0.1 * first[r, c]     # ReLU kinks, float32


def test_the_effective_field_leaves_batch_norm_as_it_was():
    bn = vgg_from_spec('vgg11-bn', ratio=8, scale_dense=True)
    bn.initialize()
    X = mx.nd.array(np.random.RandomState(2).uniform(size=(1, 1, SIZE, SIZE)))
    before = bn(X).asnumpy()
    stats = {k: p.data().asnumpy().copy() for k, p in bn.collect_params('.*running.*').items()}
    assert effective_field(bn, X, 3, 1, 1).sum() > 0
    np.testing.assert_array_equal(bn(X).asnumpy(), before)
    for k, p in bn.collect_params('.*running.*').items():
        np.testing.assert_array_equal(p.data().asnumpy(), stats[k])
