"""``python -m vgg_gluon.evaluate RUN_DIR``: test accuracy, per class, and a confusion matrix.

    python -m vgg_gluon.evaluate runs/20261123-0930 --test-samples 2000

Loads the run's last complete epoch (checked against its manifest), runs it
over the Fashion-MNIST test split at the run's input size, prints the
accuracy overall and per class, and writes ``confusion.png`` and
``evaluation.json`` into the run directory (or ``--out``).
"""
import json
import os
import tempfile
import sys

from .cli.arguments import (add_precision_args, check_source, default_out, doc_body, doc_summary,
                            fail, notice, open_run, positive_int_arg, precision_root, prog, report,
                            run_dir_parser, source_name)
from .errors import VGGGluonError


def build_parser():
    p = run_dir_parser('evaluate', doc_summary(__doc__), epilog=doc_body(__doc__))
    p.add_argument('--test-samples', type=positive_int_arg(), default=None,
                   help='evaluate on the first N test images only (default: all 10000)')
    p.add_argument('--batch-size', type=positive_int_arg(), default=None,
                   help="default: the run's")
    p.add_argument('--data-dir', default=None, help="Fashion-MNIST IDX files (default: the run's, "
                                                    "else the usual places)")
    p.add_argument('--out', default=None, help='where confusion.png and evaluation.json go '
                                               '(default: RUN_DIR; with --model, runs/NAME-evaluate)')
    add_precision_args(p)
    return p


def main(argv=None):
    """Entry point; returns the exit status (2: bad input)."""
    args = build_parser().parse_args(argv)
    cmd = prog('evaluate')
    from .inference.confusion import confusion_matrix, plot_confusion, summarize, test_iter_for
    from .inference.precision import for_inference
    from .runtime.atomic import atomic_write_text
    try:
        check_source(args)
        out = args.out or default_out(args, None)
        _check_writable(out)   # before the network or the test set is read
        (net, config, epoch), ctx = open_run(args)
        test_iter = test_iter_for(config, args.test_samples, args.batch_size, args.data_dir)
        os.makedirs(out, exist_ok=True)
    except VGGGluonError as err:
        return report(cmd, err)
    except OSError as err:
        if args.out is None:
            where = 'RUN_DIR' if args.model is None else 'the default output folder'
            return fail(cmd, f"{where}: cannot write confusion.png and evaluation.json into "
                             f"{out} ({err.strerror}); give --out DIR to write them "
                             f"there (nothing was evaluated)")
        return fail(cmd, f"--out: cannot write into {args.out} ({err.strerror})")
    try:
        net = for_inference(net, config, ctx, args.precision, args.calib_images, args.data_dir,
                            precision_root(args), log=notice(cmd))
    except VGGGluonError as err:
        return report(cmd, err)
    counts = confusion_matrix(net, test_iter, ctx, tta=config.tta)  # as its training evaluated
    summary = summarize(counts)
    summary.update(run_dir=args.run_dir, model=args.model, epoch=epoch, arch=config.arch,
                   ratio=config.ratio, tta=config.tta, precision=args.precision)

    print(f"{source_name(args)} (epoch {epoch}, {config.arch}/{config.ratio}, {config.resize} px): "
          f"{args.precision} test accuracy {summary['accuracy']:.4f} on "
          f"{summary['num_samples']} images"
          + (" (each with its mirror: the run's --tta flip)" if config.tta == 'flip' else ''))
    print(f"{'class':<12}{'accuracy':>9}{'images':>8}")
    for label, accuracy in summary['per_class'].items():
        shown = '-' if accuracy is None else f"{accuracy:.3f}"
        print(f"{label:<12}{shown:>9}{summary['support'][label]:>8}")
    figure = os.path.join(out, 'confusion.png')
    try:
        plot_confusion(counts, figure, f"{config.arch}/{config.ratio}, epoch {epoch}: "
                                       f"test accuracy {summary['accuracy']:.3f}")
        atomic_write_text(os.path.join(out, 'evaluation.json'), json.dumps(summary, indent=2))
    except OSError as err:   # the directory changed under us (full disk, made read-only)
        return fail(cmd, f"evaluated, but writing into {out} failed ({err.strerror}); the "
                         f"accuracy above stands; give --out DIR to keep the files")
    print(f"confusion matrix: {figure}; evaluation.json in {out}")
    return 0


def _check_writable(out):
    """OSError unless a file can be created in ``out``, or, while it does not
    exist yet, in the nearest folder above it that does (where it will be made)."""
    where = os.path.abspath(out)
    while not os.path.isdir(where) and os.path.dirname(where) != where:
        if os.path.lexists(where):   # a file in the way: makedirs will say so
            os.makedirs(out, exist_ok=True)
        where = os.path.dirname(where)
    with tempfile.TemporaryFile(dir=where):   # the real test: mode bits, ro mounts, ACLs
        pass


if __name__ == '__main__':
    sys.exit(main())
