"""``python -m vgg_gluon.evaluate RUN_DIR``: test accuracy, per class, and a confusion matrix.

    python -m vgg_gluon.evaluate runs/20261123-0930 --test-samples 2000

Loads the run's last complete epoch (checked against its manifest), runs it
over the Fashion-MNIST test split at the run's input size, prints the
accuracy overall and per class, and writes ``confusion.png`` and
``evaluation.json`` into the run directory (or ``--out``).
"""
import json
import os
import sys

from . import _threads  # noqa: F401  (before mxnet)
from ._cli import INPUT_ERRORS, fail, open_run, run_dir_parser
from .train import _int_arg

PROG = 'python -m vgg_gluon.evaluate'


def test_iter_for(config, test_samples=None, batch_size=None, data_dir=None):
    """The test split at the run's input size: a BatchIter of (X, y) in order."""
    from .data import BatchIter, DataError, read_fashion_mnist, resize_images
    images, labels = read_fashion_mnist(data_dir if data_dir is not None else config.data_dir)['test']
    if test_samples is not None:
        if not 1 <= test_samples <= len(images):
            raise DataError(f"must be from 1 to {len(images)} (the test split's size), "
                            f"got {test_samples}", flag='--test-samples')
        images, labels = images[:test_samples], labels[:test_samples]
    return BatchIter(resize_images(images, config.resize), labels,
                     batch_size or config.batch_size)


def confusion_matrix(net, data_iter, ctx, num_classes=10):
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted."""
    import numpy as np
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for X, y in data_iter:
        y_hat = net(X.as_in_context(ctx)).argmax(axis=1).astype('int32').asnumpy()
        np.add.at(counts, (y.asnumpy(), y_hat), 1)
    return counts


def summarize(counts):
    """{'accuracy', 'per_class': {label: accuracy}, 'support', 'confusion'} from counts."""
    from .data import TEXT_LABELS
    support = counts.sum(axis=1)
    per_class = {label: (float(counts[i, i] / support[i]) if support[i] else None)
                 for i, label in enumerate(TEXT_LABELS)}
    return {'accuracy': float(counts.trace() / counts.sum()), 'num_samples': int(counts.sum()),
            'per_class': per_class, 'support': dict(zip(TEXT_LABELS, support.tolist())),
            'confusion': counts.tolist()}


def plot_confusion(counts, path, title=''):
    """Write the confusion matrix as a PNG: rows normalised, counts written in."""
    import matplotlib
    matplotlib.use('Agg')  # files only, no display needed
    import matplotlib.pyplot as plt
    import numpy as np
    from .checkpoint import atomic_write
    from .data import TEXT_LABELS
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(rates, cmap='Blues', vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label='fraction of the true class')
    ticks = range(len(TEXT_LABELS))
    ax.set_xticks(ticks, TEXT_LABELS, rotation=45, ha='right')
    ax.set_yticks(ticks, TEXT_LABELS)
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    for i in ticks:
        for j in ticks:
            if counts[i, j]:
                ax.text(j, i, counts[i, j], ha='center', va='center', fontsize=7,
                        color='white' if rates[i, j] > 0.5 else 'black')
    ax.set_title(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format='png', dpi=100))
    plt.close(fig)


def build_parser():
    p = run_dir_parser(PROG, __doc__.split('\n')[0], epilog=__doc__.split('\n', 2)[2])
    p.add_argument('--test-samples', type=_int_arg('a positive integer'), default=None,
                   help='evaluate on the first N test images only (default: all 10000)')
    p.add_argument('--batch-size', type=_int_arg('a positive integer'), default=None,
                   help="default: the run's")
    p.add_argument('--data-dir', default=None, help="Fashion-MNIST IDX files (default: the run's, "
                                                    "else the usual places)")
    p.add_argument('--out', default=None, help='where confusion.png and evaluation.json go '
                                               '(default: RUN_DIR)')
    return p


def main(argv=None):
    """Entry point; returns the exit status (2: bad input)."""
    from .config import ConfigError
    from .checkpoint import atomic_write_text, read_checkpoint
    args = build_parser().parse_args(argv)
    try:
        if args.batch_size is not None and args.batch_size < 1:
            raise ConfigError('--batch-size', f"must be a positive integer, got {args.batch_size}")
        net, config, ctx = open_run(args)
        net.hybridize(static_alloc=True, static_shape=True)
        test_iter = test_iter_for(config, args.test_samples, args.batch_size, args.data_dir)
        out = args.out or args.run_dir
        os.makedirs(out, exist_ok=True)
    except INPUT_ERRORS as err:
        return fail(PROG, err)
    except OSError as err:
        return fail(PROG, f"--out: cannot create {args.out} ({err.strerror})")
    manifest = read_checkpoint(args.run_dir)
    epoch = manifest['epoch'] if manifest else config.epochs
    counts = confusion_matrix(net, test_iter, ctx)
    summary = summarize(counts)
    summary.update(run_dir=args.run_dir, epoch=epoch, arch=config.arch, ratio=config.ratio)

    print(f"{args.run_dir} (epoch {epoch}, {config.arch}/{config.ratio}, {config.resize} px): "
          f"test accuracy {summary['accuracy']:.4f} on {summary['num_samples']} images")
    print(f"{'class':<12}{'accuracy':>9}{'images':>8}")
    for label, accuracy in summary['per_class'].items():
        shown = '-' if accuracy is None else f"{accuracy:.3f}"
        print(f"{label:<12}{shown:>9}{summary['support'][label]:>8}")
    figure = os.path.join(out, 'confusion.png')
    plot_confusion(counts, figure, f"{config.arch}/{config.ratio}, epoch {epoch}: "
                                   f"test accuracy {summary['accuracy']:.3f}")
    atomic_write_text(os.path.join(out, 'evaluation.json'), json.dumps(summary, indent=2))
    print(f"confusion matrix: {figure}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
