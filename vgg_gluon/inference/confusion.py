"""Test accuracy of a trained network: overall, per class, and the confusion matrix
(``python -m vgg_gluon.evaluate`` prints and plots them)."""
import matplotlib
import numpy as np

from ..runtime.atomic import atomic_write
from ..data.fashion_mnist import TEXT_LABELS, BatchIter, resize_images, test_split


def test_iter_for(config, test_samples=None, batch_size=None, data_dir=None):
    """The test split at the run's input size: a BatchIter of (X, y) in order."""
    images, labels = test_split(data_dir if data_dir is not None else config.data_dir,
                                test_samples)
    return BatchIter(resize_images(images, config.resize), labels,
                     batch_size or config.batch_size)


def confusion_matrix(net, data_iter, ctx, num_classes=10, tta='none'):
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted.

    tta: the run's test-time augmentation (``Config.tta``), as its training evaluated.
    """
    from ..training.loop import scores
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for X, y in data_iter:
        y_hat = scores(net, X.as_in_context(ctx), tta).argmax(axis=1).astype('int32').asnumpy()
        np.add.at(counts, (y.asnumpy(), y_hat), 1)
    return counts


def summarize(counts):
    """{'accuracy', 'per_class': {label: accuracy}, 'support', 'confusion'} from counts."""
    support = counts.sum(axis=1)
    per_class = {label: (float(counts[i, i] / support[i]) if support[i] else None)
                 for i, label in enumerate(TEXT_LABELS)}
    return {'accuracy': float(counts.trace() / counts.sum()), 'num_samples': int(counts.sum()),
            'per_class': per_class, 'support': dict(zip(TEXT_LABELS, support.tolist())),
            'confusion': counts.tolist()}


def plot_confusion(counts, path, title=''):
    """Write the confusion matrix as a PNG: rows normalised, counts written in."""
    matplotlib.use('Agg')  # files only, no display needed
    import matplotlib.pyplot as plt  # after use('Agg')
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
