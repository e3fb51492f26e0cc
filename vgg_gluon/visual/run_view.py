"""The run behind a network: its learning curve, confusion matrix and most confidently wrong
test images (the page's section "the run").

The learning curve is the run's ``metrics.jsonl`` (one record per epoch); a
shipped model's is its manifest's record (its epochs' accuracies, as trained).
The confusion matrix and the wrong images need the whole test set through the
network (with the run's test-time augmentation, as its training evaluated):
that is done once per set of parameters and cached as JSON (and the confusion
PNG) under ``cache_dir`` -- by default ``~/.cache/vgg_gluon/demo`` -- keyed by
the parameters' sha256. Nothing is written into a run directory or the
installed package.
"""
import json
import os

import numpy as np

from ..checkpoint.reader import params_path, read_json
from ..checkpoint.zoo import read_manifest
from ..data.fashion_mnist import TEXT_LABELS, BatchIter, resize_images, test_split
from ..errors import VGGGluonError
from ..runtime.atomic import atomic_write_text, file_digest

WRONG_SHOWN = 16
METRICS_LIMIT = 16 << 20        # bytes of metrics.jsonl read at most
CACHE_VERSION = 1


def default_cache_dir():
    """~/.cache/vgg_gluon/demo (XDG_CACHE_HOME honoured)."""
    root = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(root, 'vgg_gluon', 'demo')


def learning_records(run_dir=None, model=None):
    """[{'epoch', 'train_acc', 'test_acc', 'loss'?}, ...] of a run directory's metrics.jsonl,
    or of a shipped model's manifest. VGGGluonError if unreadable."""
    if model is not None:
        manifest = read_manifest(model)
        records = manifest.get('metrics') or [{k: manifest[k] for k in
                                              ('epoch', 'train_acc', 'test_acc')}]
        return records
    path = os.path.join(run_dir, 'metrics.jsonl')
    try:
        with open(path, 'rb') as f:
            data = f.read(METRICS_LIMIT + 1)
    except OSError as err:
        raise VGGGluonError(f"{path}: cannot read ({err.strerror})") from None
    if len(data) > METRICS_LIMIT:
        raise VGGGluonError(f"{path}: larger than {METRICS_LIMIT >> 20} MiB")
    try:
        return [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    except ValueError as err:
        raise VGGGluonError(f"{path}: not one JSON record a line ({err})") from None


def curve_figure(records, title=''):
    """The learning curve (train and test accuracy, loss if recorded, per epoch) as an
    RGB uint8 array."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    epochs = [r['epoch'] for r in records]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    style = 'o-' if len(records) < 30 else '-'
    ax.plot(epochs, [r['train_acc'] for r in records], style, label='train accuracy')
    ax.plot(epochs, [r['test_acc'] for r in records], style, label='test accuracy')
    if all('loss' in r for r in records):
        ax.plot(epochs, [r['loss'] for r in records], style, label='train loss')
    ax.set_xlabel('epoch')
    ax.set_xticks(epochs if len(epochs) <= 12 else ax.get_xticks())
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right', fontsize=8)
    ax.set_title(title or f"{len(records)} epoch{'s' if len(records) != 1 else ''}: test "
                          f"accuracy {records[-1]['test_acc']:.3f}", fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def params_digest(run_dir=None, model=None):
    """The sha256 of the network's parameters file (a shipped model's from its manifest)."""
    if model is not None:
        return read_manifest(model)['files']['model.params']['sha256']
    return file_digest(params_path(run_dir))['sha256']


def test_probabilities(net, config, ctx, data_dir=None, test_samples=None):
    """(probabilities (n, 10), labels (n,)) over the test split, with the run's TTA."""
    from ..training.loop import scores
    images, labels = test_split(data_dir if data_dir is not None else config.data_dir,
                                test_samples)
    rows = []
    for X, _ in BatchIter(resize_images(images, config.resize), labels, 500):
        y_hat = scores(net, X.as_in_context(ctx), config.tta)
        if config.tta != 'flip':            # flip's scores are already probabilities
            y_hat = y_hat.softmax(axis=1)
        rows.append(y_hat.asnumpy())
    return np.concatenate(rows), labels


def summarize_test(probabilities, labels, n_wrong=WRONG_SHOWN):
    """{'accuracy', 'num_samples', 'confusion', 'wrong': [{'index', 'true', 'predicted',
    'probability'}] (the n_wrong most confident mistakes, most confident first)}."""
    predicted = probabilities.argmax(axis=1)
    counts = np.zeros((len(TEXT_LABELS),) * 2, dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    confidence = probabilities[np.arange(len(labels)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong], kind='stable')][:n_wrong]
    return {'accuracy': float(counts.trace() / counts.sum()), 'num_samples': int(len(labels)),
            'confusion': counts.tolist(),
            'wrong': [{'index': int(i), 'true': TEXT_LABELS[labels[i]],
                       'predicted': TEXT_LABELS[predicted[i]],
                       'probability': round(float(confidence[i]), 6)} for i in wrong]}


class RunView:
    """The run section of one network: ``summary()`` computes or reads the cached test
    summary; ``confusion_png()`` its figure's path; ``notes`` what was not possible."""

    def __init__(self, loaded, ctx, run_dir=None, model=None, data_dir=None, cache_dir=None):
        self.loaded, self.ctx, self.run_dir, self.model = loaded, ctx, run_dir, model
        self.data_dir = data_dir
        self.cache_dir = cache_dir or default_cache_dir()
        self.notes = []
        self._summary = None

    def _key(self):
        return f"{params_digest(self.run_dir, self.model)[:16]}-{self.loaded.config.tta}"

    def records(self):
        return learning_records(self.run_dir, self.model)

    def summary(self):
        if self._summary is not None:
            return self._summary
        path = os.path.join(self.cache_dir, self._key() + '.json')
        try:
            cached = read_json(path, 1 << 20)
            if cached.get('version') == CACHE_VERSION:
                self._summary = cached
                return cached
        except (OSError, ValueError, AttributeError):
            pass                        # absent or unreadable: computed again below
        probabilities, labels = test_probabilities(self.loaded.net, self.loaded.config,
                                                   self.ctx, self.data_dir)
        summary = dict(summarize_test(probabilities, labels), version=CACHE_VERSION,
                       source=self.model and f"shipped model {self.model}" or self.run_dir)
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
            atomic_write_text(path, json.dumps(summary))
        except OSError as err:
            self.notes.append(f"could not cache the test summary in {self.cache_dir} "
                              f"({err.strerror}); it is computed again next time")
        self._summary = summary
        return summary

    def confusion_png(self):
        """The confusion matrix's PNG in the cache (written once), or None if not writable."""
        from ..inference.confusion import plot_confusion
        summary = self.summary()
        path = os.path.join(self.cache_dir, self._key() + '-confusion.png')
        if not os.path.isfile(path):
            try:
                os.makedirs(self.cache_dir, exist_ok=True)
                plot_confusion(np.array(summary['confusion']), path,
                               f"test accuracy {summary['accuracy']:.4f} on "
                               f"{summary['num_samples']} images")
            except OSError as err:
                self.notes.append(f"could not write the confusion figure ({err.strerror})")
                return None
        return path

