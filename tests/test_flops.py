"""The FLOP counter behind the benchmarks' GFLOP/s (benchmarks/flops.py)."""
from vgg_gluon import VGG11
from benchmarks.flops import forward_flops, layer_macs, train_flops


def test_layer_macs_match_a_hand_count_of_vgg11_ratio4_96px():
    # channels 16, 32, 64, 64, 128, 128, 128, 128 on 96, 48, 24, 24, 12, 12, 6, 6 px
    conv = [96 * 96 * 16 * 1 * 9, 48 * 48 * 32 * 16 * 9, 24 * 24 * 64 * 32 * 9,
            24 * 24 * 64 * 64 * 9, 12 * 12 * 128 * 64 * 9, 12 * 12 * 128 * 128 * 9,
            6 * 6 * 128 * 128 * 9, 6 * 6 * 128 * 128 * 9]
    dense = [128 * 3 * 3 * 4096, 4096 * 4096, 4096 * 10]
    macs = [m for _, m in layer_macs(VGG11, ratio=4, resize=96)]
    assert macs == conv + dense
    assert forward_flops(arch=VGG11, ratio=4, resize=96) == 2 * sum(conv + dense)
    # backward: two more passes, but no gradient for the input images
    assert train_flops(arch=VGG11, ratio=4, resize=96) == 2 * (3 * sum(conv + dense) - conv[0])


def test_scale_dense_divides_the_dense_width():
    names = dict(layer_macs(VGG11, ratio=4, resize=96, scale_dense=True))
    assert names['fc2'] == 1024 * 1024


def test_macs_count_each_kernel_size():
    # configuration C: the last conv of blocks 3-5 is 1x1, so it costs 1/9 of a 3x3 one
    c = dict(layer_macs('vgg16-c', ratio=1, resize=224, in_channels=3, num_classes=1000))
    d = dict(layer_macs('vgg16', ratio=1, resize=224, in_channels=3, num_classes=1000))
    assert c['conv3_3'] == 56 * 56 * 256 * 256 * 1
    assert d['conv3_3'] == 56 * 56 * 256 * 256 * 9
    assert c['conv5_3'] * 9 == d['conv5_3']
    assert c['conv1_1'] == d['conv1_1'] == 224 * 224 * 64 * 3 * 9

