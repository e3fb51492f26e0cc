"""vgg_gluon: the VGG chapter of Dive into Deep Learning, in MXNet Gluon.

    from vgg_gluon import vgg, vgg_block, load_data_fashion_mnist, train_ch5

The book's names are here; each loads its module (and MXNet) when first used,
so that ``import vgg_gluon`` and every command's ``--help`` stay fast. The
library sits in folders by concern: ``models``, ``data``, ``training``,
``checkpoint``, ``inference``, ``runtime``; the commands (``train``,
``evaluate``, ...) at this level.
"""
import importlib

from . import _threads  # noqa: F401  (must run before mxnet loads)
from . import _compat  # noqa: F401  (numpy names MXNet 1.9.1 needs: before mxnet loads too)

__version__ = '0.2.0'

# public name -> the module that holds it
_PUBLIC = {
    'ARCHS': 'models.architectures', 'VGG11': 'models.architectures',
    'parse_arch': 'models.architectures', 'scale_arch': 'models.architectures',
    'vgg': 'models.vgg', 'vgg_block': 'models.vgg',
    'get_model': 'models.registry', 'list_models': 'models.registry',
    'load_data_fashion_mnist': 'data.fashion_mnist', 'TEXT_LABELS': 'data.fashion_mnist',
    'train_ch5': 'training.loop', 'evaluate_accuracy': 'training.loop',
    'TrainOptions': 'training.loop',
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    """The public names, imported on first use (PEP 562)."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f'.{_PUBLIC[name]}', __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vgg_gluon' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
