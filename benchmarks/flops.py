"""Floating-point operations of VGG, from the layer table's multiply-accumulates.

Used by ``benchmarks/bench_train.py`` to turn images/s into GFLOP/s. Only
the convolutions and dense layers count (bias, ReLU, pooling and dropout are
under 1 % of the work); one multiply-accumulate is two floating-point
operations. The count itself is ``layer_table``'s, made once per layer from
its real kernel size (configuration C's 1x1 convolutions included).
"""
from vgg_gluon.models.architectures import VGG11
from vgg_gluon.models.layer_table import summarize


def layer_macs(arch=VGG11, ratio=1, resize=224, in_channels=1, scale_dense=False,
               num_classes=10):
    """[(name, forward MACs per image)] for every conv and dense layer, in order.

    arch: a name, custom string, ``ArchSpec`` or the book's conv_arch tuple.
    Names as in the layer table: conv1_1, ..., fc1, fc2, fc3.
    """
    table = summarize(arch, ratio, resize, in_channels, num_classes, scale_dense)
    return [(row['name'], row['macs']) for row in table['layers'] if row['macs']]


def forward_flops(**kwargs):
    """FLOPs of one image's forward pass (2 per MAC); kwargs as ``layer_macs``."""
    return 2 * sum(macs for _, macs in layer_macs(**kwargs))


def train_flops(**kwargs):
    """FLOPs of one image's training step: forward, weight and input gradients.

    Backward costs two forward passes (the gradient with respect to the
    weights and the one with respect to the layer's input), except that the
    first layer needs no gradient for the images: 3x forward minus that.
    """
    layers = layer_macs(**kwargs)
    total = sum(macs for _, macs in layers)
    return 2 * (3 * total - layers[0][1])
