"""The networks the package builds, by name: one registry, as torchvision's
``models._api`` and GluonCV's ``model_zoo`` keep.

    list_models()              # ['alexnet', 'vgg11', 'vgg11-bn', ..., 'vgg19-bn']
    get_model('vgg16-bn', ratio=4)

The VGG family is data (``architectures.FAMILY``); the other networks, kept
to compare with, are listed in ``OTHER_MODELS``. Importing this module does
not load MXNet: ``--help`` texts and error messages read ``list_models``.
"""
from ..errors import ArchError
from .architectures import ARCH_NAMES, parse_spec

# name -> the function in models/ that builds it (looked up when built)
OTHER_MODELS = {'alexnet': 'alexnet'}


def list_models():
    """The sorted names ``get_model`` builds (besides custom block strings)."""
    return sorted(ARCH_NAMES + tuple(OTHER_MODELS))


def check_name(name):
    """ArchError listing every valid name, unless ``get_model`` can build ``name``."""
    if name in OTHER_MODELS:
        return name
    try:
        parse_spec(name)
    except ArchError:
        raise ArchError(f"unknown model {name!r}: choose one of {', '.join(list_models())}, "
                        f"or give VGG blocks as 'CONVSxCHANNELS,...' (e.g. 1x64,1x128,2x256)"
                        ) from None
    return name


def get_model(name, **kwargs):
    """The network called ``name`` (``'vgg11'``, ``'vgg16-c-bn'``, ... or a custom
    ``'CONVSxCHANNELS,...'`` string, or ``'alexnet'``), uninitialised; keywords go
    to ``vgg.vgg`` or ``alexnet.alexnet`` (ratio, scale_dense, num_classes,
    dense_units, dropout).

    ArchError listing the valid names for an unknown one.
    """
    if not isinstance(name, str):
        raise ArchError(f"a model name is a string: one of {', '.join(list_models())}, "
                        f"got {name!r}")
    check_name(name)
    if name in OTHER_MODELS:
        from . import alexnet
        return getattr(alexnet, OTHER_MODELS[name])(**kwargs)
    from .vgg import vgg_from_spec
    return vgg_from_spec(name, **kwargs)
