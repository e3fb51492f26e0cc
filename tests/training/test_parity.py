"""Parity with the reference: vgg_gluon.train_ch5 is d2lzh.train_ch5.

Both loops train the same network from the same initial parameters, with
the same Dropout random stream and the same batches in the same order, on a
slice of the real Fashion-MNIST; the per-epoch loss and accuracies must
agree. d2lzh only prints its numbers (loss to 4 decimals, accuracies to 3),
so ours must round to what it printed. The last training batch is partial
(1000 = 7 * 128 + 104) so that a loop skipping or mis-weighting it fails,
and the second epoch starts from parameters the first one changed, so any
difference in the updates shows too. ``test_comparison_catches_a_skipped_batch``
checks the check: the same comparison fails for a loop that drops that batch.
"""
import re

import pytest

import vgg_gluon  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
import mxnet as mx
from mxnet import gluon, init

import d2lzh
from vgg_gluon import VGG11, load_data_fashion_mnist, train_ch5, vgg

TRAIN, TEST, BATCH, RESIZE, EPOCHS = 1000, 500, 128, 32, 2
D2L_LINE = re.compile(r'^epoch (\d+), loss ([\d.]+), train acc ([\d.]+), test acc ([\d.]+), '
                      r'time [\d.]+ sec$', re.M)

pytestmark = pytest.mark.slow   # both tests use ``runs``: two loops, 2 epochs of 8 batches each


def _net(params_file=None):
    # ratio 8 with scaled dense layers: small enough for a test, the book's layer types
    net = vgg(VGG11, ratio=8, scale_dense=True)
    if params_file is None:
        net.initialize(init.Xavier(), ctx=mx.cpu())
    else:
        net.load_parameters(params_file, ctx=mx.cpu())
    net.hybridize(static_alloc=True, static_shape=True)
    return net


def _train(loop, params_file, fmnist_dir, wrap=lambda it: it):
    """Run ``loop`` (a train_ch5) from the saved parameters; returns its result."""
    train_iter, test_iter = load_data_fashion_mnist(
        BATCH, resize=RESIZE, root=fmnist_dir, train_samples=TRAIN, test_samples=TEST, seed=3)
    net = _net(params_file)
    # Adam moves the weights far in two epochs: differences in the updates cannot hide
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.001})
    mx.random.seed(7)          # the Dropout masks: the same stream for both loops
    return loop(net, wrap(train_iter), test_iter, BATCH, trainer, mx.cpu(), EPOCHS)


def _d2lzh_epochs(printed):
    rows = [(int(e), float(l), float(tr), float(te)) for e, l, tr, te in D2L_LINE.findall(printed)]
    assert [r[0] for r in rows] == list(range(1, EPOCHS + 1)), printed
    return rows


def _mismatches(history, d2l_rows):
    """Where our unrounded numbers disagree with what d2lzh printed."""
    bad = []
    for ours, (epoch, loss, train_acc, test_acc) in zip(history, d2l_rows):
        # printed values are rounded: half a unit in the last place, plus float noise
        if abs(ours['loss'] - loss) > 0.5e-4 + 1e-6:
            bad.append(f"epoch {epoch} loss {ours['loss']:.6f} vs d2lzh {loss}")
        for key, value in (('train_acc', train_acc), ('test_acc', test_acc)):
            if abs(ours[key] - value) > 0.5e-3 + 1e-9:
                bad.append(f"epoch {epoch} {key} {ours[key]:.6f} vs d2lzh {value}")
    return bad


@pytest.fixture(scope='module')
def runs(fmnist_dir, tmp_path_factory):
    """(our history, d2lzh's printed rows) from the same start."""
    params_file = str(tmp_path_factory.mktemp('parity') / 'init.params')
    mx.random.seed(1)
    net = _net()
    net(mx.nd.zeros((1, 1, RESIZE, RESIZE)))   # Gluon infers the shapes on a first call
    net.save_parameters(params_file)
    # d2lzh prints; capture it without capsys (module scope) by swapping stdout
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        _train(d2lzh.train_ch5, params_file, fmnist_dir)
    with contextlib.redirect_stdout(io.StringIO()):
        history = _train(train_ch5, params_file, fmnist_dir)
    return history, _d2lzh_epochs(buffer.getvalue()), params_file


def test_train_ch5_matches_d2lzh(runs):
    history, d2l_rows, _ = runs
    assert len(history) == EPOCHS
    assert _mismatches(history, d2l_rows) == []
    # and it learned: not a pair of loops that agree because nothing moved
    assert history[-1]['loss'] < history[0]['loss'] - 0.03
    assert history[-1]['test_acc'] > 0.2     # chance is 0.1


def test_comparison_catches_a_skipped_batch(runs, fmnist_dir):
    """A loop that drops the last partial batch must not pass as d2lzh's."""
    _, d2l_rows, params_file = runs

    def drop_last(train_iter):
        class DropLast:
            def __len__(self):
                return len(train_iter) - 1

            def __iter__(self):
                batches = iter(train_iter)
                for _ in range(len(train_iter) - 1):
                    yield next(batches)
                for _ in batches:   # finish the pass, as set_epoch counting expects
                    pass
        return DropLast()

    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        skipped = _train(train_ch5, params_file, fmnist_dir, wrap=drop_last)
    assert _mismatches(skipped, d2l_rows)
