"""``python -m vgg_gluon.export RUN_DIR``: the trained network as an MXNet symbol and as ONNX.

    python -m vgg_gluon.export runs/20261123-0930 --out deploy/

Writes into RUN_DIR/export (or --out):
    vgg-symbol.json, vgg-0000.params   gluon.SymbolBlock.imports(sym, ['data'], params)
    vgg.onnx                           input 'data' (batch, 1, size, size), batch axis dynamic
Input: float32 images in [0, 1], light items on black, at the run's input
size; output: (batch, 10) logits. Both files are checked against the
trained network before the command ends (onnxruntime, if installed).
"""
import contextlib
import os
import sys

from .cli.arguments import (default_out, doc_body, doc_summary, fail, open_run, prog, report,
                            run_dir_parser)
from .errors import VGGGluonError


def build_parser():
    p = run_dir_parser('export', doc_summary(__doc__), epilog=doc_body(__doc__))
    p.add_argument('--out', default=None, help='output directory (default: RUN_DIR/export; with --model, runs/NAME-export)')
    p.add_argument('--no-onnx', dest='onnx', action='store_false', help='MXNet files only')
    return p


def main(argv=None):
    """Entry point; returns the exit status (2: bad input, 1: exported files disagree)."""
    args = build_parser().parse_args(argv)
    cmd = prog('export')
    from .runtime.lock import writer_lock
    out = args.out or default_out(args, 'export')
    with contextlib.ExitStack() as held:
        try:
            if args.out is None and args.run_dir is not None and os.path.isdir(args.run_dir):
                held.enter_context(writer_lock(args.run_dir))   # it writes in the run directory
            return _export(cmd, args, out)
        except VGGGluonError as err:
            return report(cmd, err)
        except OSError as err:
            return fail(cmd, f"--out: cannot create {out} ({err.strerror})")


def _export(cmd, args, out):
    """The export itself, under the run directory's lock when it writes there."""
    from .inference.formats import export_all, have
    (net, config, _), ctx = open_run(args)
    os.makedirs(out, exist_ok=True)
    if args.onnx and not have('onnx'):
        return fail(cmd, "--no-onnx: the onnx package is not installed "
                          "(pip install 'vgg_gluon[export]'), or give --no-onnx")
    written, diffs = export_all(net, config, ctx, out, onnx=args.onnx)
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
        print(f"{cmd}: error: the exported model differs from the trained one by {worst:.2e}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
