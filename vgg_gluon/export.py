"""``python -m vgg_gluon.export RUN_DIR``: the trained network as an MXNet symbol and as ONNX.

    python -m vgg_gluon.export runs/20261123-0930 --out deploy/

Writes into RUN_DIR/export (or --out):
    vgg-symbol.json, vgg-0000.params   gluon.SymbolBlock.imports(sym, ['data'], params)
    vgg.onnx                           input 'data' (batch, 1, size, size), batch axis dynamic
Input: float32 images in [0, 1], light items on black, at the run's input
size; output: (batch, 10) logits. Both files are checked against the
trained network before the command ends (onnxruntime, if installed).
"""
import os
import shutil
import sys
import tempfile

from . import _threads  # noqa: F401  (before mxnet)
from ._cli import INPUT_ERRORS, fail, open_run, run_dir_parser

PROG = 'python -m vgg_gluon.export'
PREFIX = 'vgg'
CHECK_BATCHES = (1, 7)


def export_mxnet(net, config, prefix, ctx):
    """``prefix-symbol.json`` and ``prefix-0000.params``; returns their paths.

    ``net.export`` needs a hybridized network that has run forward once.
    """
    import mxnet as mx
    net.hybridize()
    net(mx.nd.zeros((1, 1, config.resize, config.resize), ctx=ctx))
    net.export(prefix, epoch=0)
    return f'{prefix}-symbol.json', f'{prefix}-0000.params'


def export_onnx(symbol_file, params_file, config, path):
    """The MXNet files as ONNX with a dynamic batch axis; returns ``path``."""
    import numpy as np
    import mxnet as mx
    from ._compat import adapt_onnx
    adapt_onnx()  # onnx.mapping, which MXNet's exporter imports and newer onnx removed
    shape = (1, 1, config.resize, config.resize)
    mx.onnx.export_model(symbol_file, params_file, in_shapes=[shape], in_types=[np.float32],
                         onnx_file_path=path, dynamic=True,
                         dynamic_input_shapes=[(None,) + shape[1:]])
    _drop_weight_inputs(path)
    return path


def _drop_weight_inputs(path):
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
    import warnings
    from mxnet import gluon
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
    import numpy as np
    import mxnet as mx
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


def build_parser():
    p = run_dir_parser(PROG, __doc__.split('\n')[0], epilog=__doc__.split('\n', 2)[2])
    p.add_argument('--out', default=None, help='output directory (default: RUN_DIR/export)')
    p.add_argument('--no-onnx', dest='onnx', action='store_false', help='MXNet files only')
    return p


def _have(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


def main(argv=None):
    """Entry point; returns the exit status (2: bad input, 1: exported files disagree)."""
    args = build_parser().parse_args(argv)
    try:
        net, config, ctx = open_run(args)
        out = args.out or os.path.join(args.run_dir, 'export')
        os.makedirs(out, exist_ok=True)
    except INPUT_ERRORS as err:
        return fail(PROG, err)
    except OSError as err:
        return fail(PROG, f"--out: cannot create {out} ({err.strerror})")
    if args.onnx and not _have('onnx'):
        return fail(PROG, "--no-onnx: the onnx package is not installed "
                          "(pip install 'vgg_gluon[export]'), or give --no-onnx")
    # Write into a temporary directory beside the result, then move each file
    # in with one rename: a failed export leaves the previous one whole.
    tmp = tempfile.mkdtemp(prefix='.export-', dir=out)
    try:
        symbol_file, params_file = export_mxnet(net, config, os.path.join(tmp, PREFIX), ctx)
        onnx_file = None
        if args.onnx:
            onnx_file = export_onnx(symbol_file, params_file, config,
                                    os.path.join(tmp, PREFIX + '.onnx'))
        diffs = check_export(net, config, ctx, symbol_file, params_file,
                             onnx_file if _have('onnxruntime') else None)
        written = []
        for path in filter(None, (symbol_file, params_file, onnx_file)):
            final = os.path.join(out, os.path.basename(path))
            os.replace(path, final)
            written.append(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{config.arch}/{config.ratio}, input (batch, 1, {config.resize}, {config.resize}) "
          f"float32 in [0, 1] -> (batch, 10) logits")
    for path in written:
        print(f"wrote {path}")
    worst = 0.0
    for fmt, by_batch in diffs.items():
        for n, d in by_batch.items():
            print(f"check {fmt}: batch {n}, max |logit difference| {d:.2e}")
            worst = max(worst, d)
    if args.onnx and not diffs['onnx']:
        print("check onnx: skipped (onnxruntime is not installed)")
    if worst > 1e-4:
        print(f"{PROG}: error: the exported model differs from the trained one by {worst:.2e}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
