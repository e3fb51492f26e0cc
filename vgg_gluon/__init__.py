"""vgg_gluon: the VGG chapter of Dive into Deep Learning, in MXNet Gluon.

    from vgg_gluon import vgg, vgg_block, load_data_fashion_mnist, train_ch5
"""
from . import _threads  # noqa: F401  (must run before mxnet loads)
from . import _compat  # noqa: F401  (numpy names MXNet 1.9.1 needs: before mxnet loads too)
from .arch import ARCHS, VGG11, parse_arch, scale_arch
from .data import load_data_fashion_mnist, TEXT_LABELS
from .loop import evaluate_accuracy, train_ch5
from .model import get_model, vgg, vgg_block

__version__ = '0.1.0'
__all__ = ['ARCHS', 'VGG11', 'TEXT_LABELS', 'evaluate_accuracy', 'get_model',
           'load_data_fashion_mnist', 'parse_arch', 'scale_arch', 'train_ch5', 'vgg', 'vgg_block']
