"""The layer table: receptive fields by hand, MXNet's own parameter count, the CLI."""
import json
import subprocess
import sys

import pytest

import vgg_gluon  # noqa: F401
import mxnet as mx
from mxnet import init

from vgg_gluon import summary
from vgg_gluon.models.registry import get_model
from vgg_gluon.models.layer_table import Field, receptive_field, summarize

CONV3 = (3, 1, 1)   # kernel, stride, padding of every VGG conv
POOL = (2, 2, 0)


def exit_status(main, argv):
    """main's return value, or the status argparse exits with."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def test_stacked_3x3_fields():
    assert receptive_field([CONV3]).size == 3
    assert receptive_field([CONV3] * 2).size == 5   # two 3x3 see a 5x5 window
    assert receptive_field([CONV3] * 3).size == 7   # three 3x3 see a 7x7 window
    f = receptive_field([CONV3, CONV3, POOL, CONV3])
    # 3, 5, then the pool: 5 + 1 = 6 with jump 2, then a 3x3 at jump 2: 6 + 2 * 2 = 10
    assert (f.size, f.jump) == (10, 2)
    assert Field().start == 0.5 and receptive_field([POOL]).start == 1.0  # centre of pixels 0, 1


def test_vgg11_field_by_hand():
    # r grows by (k - 1) * jump: conv1 3, pool1 4 (jump 2), conv2 8, pool2 10 (jump 4),
    # conv3 18, 26, pool3 30 (jump 8), conv4 46, 62, pool4 70 (jump 16),
    # conv5 102, 134, pool5 150 (jump 32).
    table = summarize('vgg11', ratio=4, resize=96)
    convs = [r['rf'] for r in table['layers'] if r['type'].startswith('conv')]
    assert convs == [3, 8, 18, 26, 46, 62, 102, 134]
    assert [b['rf'] for b in table['blocks']] == [4, 10, 30, 70, 150]
    assert [b['jump'] for b in table['blocks']] == [2, 4, 8, 16, 32]
    assert table['totals']['last_conv_rf'] == 134
    fc1 = table['layers'][[r['name'] for r in table['layers']].index('fc1')]
    # a 3x3 conv over the 3x3 pool5 map at jump 32: 150 + 2 * 32; centred on the image
    assert (fc1['rf'], fc1['start']) == (214, 48.0)


def test_vgg16_field_and_compute():
    t = summarize('vgg16', 1, 224, 3, 1000)
    assert t['totals']['last_conv_rf'] == 196            # conv5_3's well-known 196 px
    assert t['totals']['macs'] == 15_470_264_320         # the well-known 15.47 GMACs


@pytest.mark.parametrize('arch, ratio, resize', [('vgg11', 4, 96), ('vgg16-c-bn', 8, 64),
                                                 ('vgg11-lrn', 8, 32), ('2x8,1x16:1', 1, 40),
                                                 ('alexnet', 1, 224), ('alexnet', 4, 67)])
def test_totals_equal_mxnets_count(arch, ratio, resize):
    net = get_model(arch, ratio=ratio)
    net.initialize(init.Xavier())
    out = net(mx.nd.zeros((1, 1, resize, resize)))
    mxnet_count = sum(p.data().size for p in net.collect_params().values())
    table = summarize(arch, ratio=ratio, resize=resize)
    assert table['totals']['params'] == mxnet_count
    assert table['totals']['output_shape'] == list(out.shape[1:])


def test_cli_table_and_json(capsys):
    assert summary.main(['--arch', 'vgg11', '--ratio', '4', '--resize', '96']) == 0
    text = capsys.readouterr().out
    assert 'conv1_1' in text and 'block 5' in text and 'pool5' in text
    assert '22,121,802' in text  # VGG-11/4 at 96 px: the book's network
    assert summary.main(['--arch', 'vgg13-bn', '--ratio', '8', '--resize', '32', '--json',
                         '--classes', '5', '--in-channels', '3', '--scale-dense']) == 0
    table = json.loads(capsys.readouterr().out)
    assert table['totals']['output_shape'] == [5] and len(table['blocks']) == 5
    assert table['layers'][0]['output_shape'] == [8, 32, 32]


@pytest.mark.slow
def test_cli_vgg16_in_full():
    out = subprocess.run([sys.executable, '-m', 'vgg_gluon.summary', '--arch', 'vgg16',
                          '--resize', '224', '--in-channels', '3', '--classes', '1000'],
                         capture_output=True, text=True, check=True).stdout
    assert 'parameters 138,357,544' in out


def test_alexnet_table():
    """The book's AlexNet: 11x11 stride 4, 5x5, three 3x3, each stage pooled 3x3 stride 2."""
    t = summarize('alexnet', 1, 224)
    convs = [r for r in t['layers'] if r['type'].startswith('conv')]
    assert [r['type'] for r in convs] == ['conv11-96+relu', 'conv5-256+relu', 'conv3-384+relu',
                                          'conv3-384+relu', 'conv3-256+relu']
    assert [r['output_shape'] for r in t['layers'] if r['type'] == 'maxpool'] == [
        [96, 26, 26], [256, 12, 12], [256, 5, 5]]
    # 11 + 4 * (3 - 1) = 19 after pool1; the first dense layer is a 5x5 conv at jump 32
    assert [b['rf'] for b in t['blocks']] == [19, 67, 195] and t['layers'][-5]['rf'] == 323
    assert t['totals']['weight_layers'] == 8 and t['totals']['params'] == 46_764_746


@pytest.mark.parametrize('argv, flag', [
    (['--arch', 'alexnet', '--resize', '66'], '--resize'),
    (['--arch', 'alexnet', '--ratio', '97'], '--ratio'),
    (['--arch', 'vgg12'], '--arch'), (['--ratio', '0'], '--ratio'),
    (['--ratio', 'x'], '--ratio'), (['--resize', '16'], '--resize'),
    (['--in-channels', '0'], '--in-channels'), (['--classes', '-1'], '--classes'),
    (['--bogus'], '--bogus')])
def test_cli_bad_flags(argv, flag, capsys):
    assert exit_status(summary.main, argv) == 2
    err = capsys.readouterr().err
    assert flag in err and err.count('\n') == 1 and 'Traceback' not in err
