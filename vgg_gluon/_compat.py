"""Let MXNet 1.9.1 run with the numpy and onnx that Python 3.12 and 3.13 get.

MXNet 1.9.1 is MXNet's last release; its fixes for newer numpy were never
released (apache/mxnet#21165). It uses ``numpy.bool`` and ``numpy.int``,
aliases numpy 1.24 removed, and Python 3.12 and 3.13 have no numpy 1.23 wheel.
Its ONNX exporter imports ``onnx.mapping``, which onnx 1.19 removed (the
project pins onnx 1.23 on Python 3.12, where onnx 1.15 has no wheel).

This module gives back exactly those names, only where they are missing, and
patches nothing else. The numpy names must be there before ``import mxnet``
(``mxnet/numpy/utils.py`` reads ``numpy.bool`` at import): ``vgg_gluon``
imports this module first, and ``benchmarks/seed000.py`` and the Horovod build
in ``scripts/setup.sh`` load this file alone, by path, so it imports nothing
from vgg_gluon.
"""
import warnings

import numpy


def _missing(module, name):
    """True if ``module.name`` raises AttributeError."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # numpy 1.20-1.23 still have the aliases, with a warning
        return not hasattr(module, name)


def restore_numpy_aliases():
    """The removed numpy aliases MXNet 1.9.1 uses; returns the names set here.

    Each was the builtin type itself (``numpy.bool is bool`` up to numpy 1.23),
    so they get exactly their old values back.
    """
    restored = []
    if _missing(numpy, 'bool'):
        # mxnet/numpy/utils.py at import (mx.np.bool); boolean-mask indexing and
        # assignment in mxnet/numpy/multiarray.py; the dtype of np.full(shape, True)
        # in ndarray/numpy/_op.py and symbol/numpy/_symbol.py; test_utils' tolerances
        numpy.bool = bool
        restored.append('bool')
    if _missing(numpy, 'int'):
        numpy.int = int  # mxnet/test_utils.py: chi_square_check counts samples per bucket
        restored.append('int')
    return restored


def onnx_type_tables():
    """(TENSOR_TYPE_TO_NP_TYPE, NP_TYPE_TO_TENSOR_TYPE) as ``onnx.mapping`` had them,
    from ``onnx.helper``, which keeps the same correspondence on every onnx since 1.13."""
    from onnx import helper
    to_numpy = {t: helper.tensor_dtype_to_np_dtype(t) for t in helper.get_all_tensor_dtypes()}
    # onnx's own choice for each numpy dtype: float32 -> FLOAT, not one of the types
    # (bfloat16, float8 on old onnx) that are stored as float32
    to_tensor = {dtype: helper.np_dtype_to_tensor_dtype(dtype) for dtype in set(to_numpy.values())}
    return to_numpy, to_tensor


def adapt_onnx():
    """``onnx.mapping`` for MXNet's exporter (``mxnet.onnx.export_model``), if onnx lacks it.

    onnx 1.19 removed the module; mx2onnx reads two tables from it,
    ``NP_TYPE_TO_TENSOR_TYPE[numpy dtype]`` and ``TENSOR_TYPE_TO_NP_TYPE[onnx type]``.
    Returns True if the module was made here. Call before exporting; imports onnx.
    """
    import sys
    import types
    import onnx
    try:
        from onnx import mapping  # noqa: F401  (onnx up to 1.18 has it: nothing to do)
        return False
    except ImportError:
        pass
    mapping = types.ModuleType('onnx.mapping', "onnx's type tables for MXNet's exporter (vgg_gluon._compat)")
    mapping.TENSOR_TYPE_TO_NP_TYPE, mapping.NP_TYPE_TO_TENSOR_TYPE = onnx_type_tables()
    sys.modules['onnx.mapping'] = onnx.mapping = mapping  # for `from onnx import mapping` and `onnx.mapping.X`
    return True


RESTORED = restore_numpy_aliases()
