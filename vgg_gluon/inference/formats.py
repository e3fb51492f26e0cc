"""A trained network in deployable formats: an MXNet symbol and ONNX, each checked
against the network (``python -m vgg_gluon.export`` writes them).

The onnx and onnxruntime packages are imported only where they are used: they
are an extra (``pip install 'vgg_gluon[export]'``).
"""
import importlib.util
import os
import shutil
import tempfile
import warnings

import numpy as np
import mxnet as mx
from mxnet import gluon

from .._compat import adapt_onnx

PREFIX = 'vgg'
CHECK_BATCHES = (1, 7)


def have(module):
    """Whether ``module`` is installed (without importing it)."""
    return importlib.util.find_spec(module) is not None


def export_mxnet(net, config, prefix, ctx):
    """``prefix-symbol.json`` and ``prefix-0000.params``; returns their paths.

    ``net.export`` needs a hybridized network that has run forward once.
    """
    net.hybridize()
    net(mx.nd.zeros((1, 1, config.resize, config.resize), ctx=ctx))
    net.export(prefix, epoch=0)
    return f'{prefix}-symbol.json', f'{prefix}-0000.params'


def export_onnx(symbol_file, params_file, config, path):
    """The MXNet files as ONNX with a dynamic batch axis; returns ``path``."""
    adapt_onnx()  # onnx.mapping, which MXNet's exporter imports and newer onnx removed
    shape = (1, 1, config.resize, config.resize)
    mx.onnx.export_model(symbol_file, params_file, in_shapes=[shape], in_types=[np.float32],
                         onnx_file_path=path, dynamic=True,
                         dynamic_input_shapes=[(None,) + shape[1:]])
    drop_weight_inputs(path)
    return path


def drop_weight_inputs(path):
    """Leave 'data' the graph's only input.

    MXNet's exporter also lists every weight as a graph input, which makes
    onnxruntime warn and skip constant folding (the fix its own
    remove_initializer_from_input.py tool makes).
    """
    import onnx
    model = onnx.load(path)
    weights = {init.name for init in model.graph.initializer}
    for graph_input in [i for i in model.graph.input if i.name in weights]:
        model.graph.input.remove(graph_input)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def import_symbol(symbol_file, params_file, ctx):
    """The exported network back as a Gluon SymbolBlock."""
    with warnings.catch_warnings():  # "unused input" warnings for the label-free graph
        warnings.simplefilter('ignore')
        return gluon.SymbolBlock.imports(symbol_file, ['data'], params_file, ctx=ctx)


def onnx_logits(path, X):
    """Run the ONNX file with onnxruntime on NumPy ``X`` (batch, 1, h, w)."""
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {session.get_inputs()[0].name: X})[0]


def check_export(net, config, ctx, symbol_file, params_file, onnx_file=None):
    """Largest |logit difference| to ``net`` per format and batch size, e.g.
    {'mxnet': {1: 0.0, 7: 0.0}, 'onnx': {1: 2e-7, 7: 3e-7}}."""
    imported = import_symbol(symbol_file, params_file, ctx)
    diffs = {'mxnet': {}, 'onnx': {}}
    rng = np.random.RandomState(0)
    for n in CHECK_BATCHES:
        X = rng.rand(n, 1, config.resize, config.resize).astype(np.float32)
        expected = net(mx.nd.array(X, ctx=ctx)).asnumpy()
        diffs['mxnet'][n] = float(np.abs(imported(mx.nd.array(X, ctx=ctx)).asnumpy() - expected).max())
        if onnx_file:
            diffs['onnx'][n] = float(np.abs(onnx_logits(onnx_file, X) - expected).max())
    return diffs


def export_all(net, config, ctx, out, onnx=True):
    """Write the MXNet files (and ONNX) into ``out`` and check them against ``net``.

    Returns (paths written, ``check_export``'s differences). Everything is
    written into a temporary directory beside the result, then moved in with
    one rename a file: a failed export leaves the previous one whole.
    """
    tmp = tempfile.mkdtemp(prefix='.export-', dir=out)
    try:
        symbol_file, params_file = export_mxnet(net, config, os.path.join(tmp, PREFIX), ctx)
        onnx_file = None
        if onnx:
            onnx_file = export_onnx(symbol_file, params_file, config,
                                    os.path.join(tmp, PREFIX + '.onnx'))
        diffs = check_export(net, config, ctx, symbol_file, params_file,
                             onnx_file if have('onnxruntime') else None)
        written = []
        for path in filter(None, (symbol_file, params_file, onnx_file)):
            final = os.path.join(out, os.path.basename(path))
            os.replace(path, final)
            written.append(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written, diffs
