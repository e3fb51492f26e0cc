"""The book's training loop, ``train_ch5``, with metrics kept on the device.

d2lzh calls ``asscalar()`` twice a batch, which stalls MXNet's asynchronous
engine each step. Here loss and correct counts are summed into device arrays
and read back every ``CHECK_EVERY`` batches: often enough to catch a NaN loss
early and bound how far Python runs ahead of the engine, rarely enough to
cost nothing.
"""
import collections
import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import mxnet as mx
from mxnet import autograd, gluon

from ..errors import TrainingDiverged
from ..runtime.mxnet_internals import amp_loss_scaler

EPOCH_FORMAT = 'epoch %d, loss %.4f, train acc %.3f, test acc %.3f, time %.1f sec'
# The progress bar reads a batch's loss this many batches after it was queued:
# by then its forward pass has run, and the engine still holds BAR_LAG batches
# of work, so waiting for it never leaves the cores idle.
BAR_LAG = 2
# Batches between reads of the loss sum (see above).
CHECK_EVERY = 50


def as_ctx_list(ctx):
    """One context or several -> a list of contexts."""
    return list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]


def _split(X, y, ctxs):
    """Move a batch to the device(s): split along the batch axis across several."""
    if len(ctxs) == 1:
        return [X.as_in_context(ctxs[0])], [y.as_in_context(ctxs[0])]
    return (gluon.utils.split_and_load(X, ctxs, even_split=False),
            gluon.utils.split_and_load(y, ctxs, even_split=False))


def scores(net, X, tta='none'):
    """(batch, classes) scores of ``net`` for X (batch, channels, h, w): its outputs,
    or with tta='flip' the mean of the softmax of X and of X mirrored left-right."""
    y_hat = net(X)
    if tta == 'flip':
        y_hat = (y_hat.softmax(axis=1) + net(X.flip(axis=3)).softmax(axis=1)) / 2
    return y_hat


def evaluate_accuracy(data_iter, net, ctx, allreduce=None, tta='none'):
    """Fraction of correct predictions of ``net`` over ``data_iter``.

    allreduce: for distributed runs, sums [correct, n] over all workers' shards.
    tta: 'flip' scores each image with its mirror as well (``scores``).
    """
    ctxs = as_ctx_list(ctx)
    correct = [mx.nd.zeros((1,), ctx=c) for c in ctxs]
    n = 0
    for X, y in data_iter:
        Xs, ys = _split(X, y, ctxs)
        for i, (X_part, y_part) in enumerate(zip(Xs, ys)):
            y_hat = scores(net, X_part, tta)
            correct[i] += (y_hat.argmax(axis=1).astype('float32', copy=False)
                           == y_part.astype('float32')).sum()
        n += y.shape[0]
    correct = sum(c.asscalar() for c in correct)
    if allreduce is not None:
        correct, n = allreduce([correct, n])
    return correct / n


class SmoothedCrossEntropy(gluon.loss.SoftmaxCrossEntropyLoss):
    """Softmax cross-entropy against smoothed targets (Szegedy et al. 2016).

    The target puts 1 - smoothing + smoothing / classes on the true class and
    smoothing / classes on each other one. pred: (batch, classes); label:
    (batch,) class indices; returns (batch,) losses.
    """

    def __init__(self, smoothing, classes=10, **kwargs):
        super().__init__(sparse_label=False, **kwargs)
        self.smoothing, self.classes = smoothing, classes

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        off = self.smoothing / self.classes
        target = F.one_hot(label, self.classes, on_value=1 - self.smoothing + off, off_value=off)
        return super().hybrid_forward(F, pred, target, sample_weight)


@dataclass(frozen=True)
class TrainOptions:
    """What ``train_ch5`` does beyond the book; left at None or 0, it is d2lzh's loop.

    start_epoch: epochs already done (a resumed run): train epochs
        ``start_epoch + 1`` to ``num_epochs``.
    on_epoch_start(epoch): before each epoch, 0-based (seeding, the data order).
    on_epoch_end(record): after each epoch, with its record (checkpoints).
    bar(total, desc): makes each epoch's progress bar, an object with
        ``update(loss_sum, correct, n)`` per completed batch and ``close()``.
    loss: the loss block; None: the book's softmax cross-entropy.
    allreduce(values): sums a list of numbers over all workers (distributed
        runs, training.distributed); the epoch's loss, correct count, n and
        test accuracy then cover every worker's shard.
    tta: the test accuracy's test-time augmentation ('none' or 'flip', ``scores``).
    """
    start_epoch: int = 0
    on_epoch_start: Optional[Callable[[int], None]] = None
    on_epoch_end: Optional[Callable[[dict], None]] = None
    bar: Optional[Callable[[int, str], object]] = None
    loss: Optional[gluon.loss.Loss] = None
    allreduce: Optional[Callable[[list], list]] = None
    tta: str = 'none'


def train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx, num_epochs, *,
              options=None):
    """Train and print d2lzh's lines; return one dict per epoch.

    Same signature and output as ``d2lzh.train_ch5``; ctx may also be a list
    of devices (data parallel), and train_iter any iterable with a length (a
    wrapper can time or watch the batches). Each record also holds ``lr``, the
    rate of the epoch's last step. Raises TrainingDiverged when the loss
    becomes NaN or infinite.

    The extras come in one ``TrainOptions`` rather than as callbacks: only the
    epoch hooks and the bar are events, while resuming, the loss and the
    all-reduce change what the loop computes and would remain parameters
    beside any callbacks. One object keeps the book's seven parameters as they
    are, documents every extra in one place, and by default is the book's loop.
    """
    options = options if options is not None else TrainOptions()
    ctxs = as_ctx_list(ctx)
    print('training on', ctxs[0] if len(ctxs) == 1 else ctxs)
    loss = options.loss or gluon.loss.SoftmaxCrossEntropyLoss()
    allreduce = options.allreduce
    history = []
    for epoch in range(options.start_epoch, num_epochs):
        if options.on_epoch_start is not None:
            options.on_epoch_start(epoch)
        start = time.time()
        bar = options.bar(len(train_iter), f'epoch {epoch + 1}') if options.bar else None
        train_l, train_acc, n = train_epoch(net, train_iter, loss, trainer, batch_size, ctxs,
                                            epoch, CHECK_EVERY, bar=bar)
        if allreduce is not None:
            train_l, train_acc, n = allreduce([train_l, train_acc, n])
        _check_finite(train_l, epoch, trainer)
        test_acc = evaluate_accuracy(test_iter, net, ctx, allreduce=allreduce, tta=options.tta)
        record = {'epoch': epoch + 1, 'loss': train_l / n,
                  'train_acc': train_acc / n,
                  'test_acc': test_acc, 'time': time.time() - start,
                  'lr': _rate_after(trainer, (epoch + 1) * len(train_iter))}
        print(EPOCH_FORMAT % (record['epoch'], record['loss'], record['train_acc'],
                              record['test_acc'], record['time']))
        history.append(record)
        if options.on_epoch_end is not None:
            options.on_epoch_end(record)
    return history


def train_epoch(net, batches, loss, trainer, batch_size, ctxs, epoch=0,
                check_every=CHECK_EVERY, bar=None):
    """One pass over ``batches`` of (X, y); returns (loss sum, correct count, n).

    The sums stay on the devices and are read back every ``check_every``
    batches (TrainingDiverged on a NaN or infinite loss) and at the end.
    bar: advanced on completed work, ``BAR_LAG`` batches behind the queue.
    """
    train_l_sum = [mx.nd.zeros((1,), ctx=c) for c in ctxs]
    train_acc_sum = [mx.nd.zeros((1,), ctx=c) for c in ctxs]
    n = 0
    pending = collections.deque()  # (per-device [loss sum, correct] arrays, images)
    for i, (X, y) in enumerate(batches):
        Xs, ys = _split(X, y, ctxs)
        with autograd.record():
            y_hats = [net(X_part) for X_part in Xs]
            ls = [loss(y_hat, y_part).sum() for y_hat, y_part in zip(y_hats, ys)]
        _backward(ls, trainer)
        trainer.step(batch_size)
        stats = []
        for j, (l, y_hat, y_part) in enumerate(zip(ls, y_hats, ys)):
            # astype: float16 under AMP; a no-op (no copy) in float32
            l = l.astype('float32', copy=False)
            correct = (y_hat.argmax(axis=1).astype('float32', copy=False)
                       == y_part.astype('float32')).sum()
            train_l_sum[j] += l
            train_acc_sum[j] += correct
            if bar is not None:
                stats.append(mx.nd.concat(l, correct, dim=0))
        n += y.shape[0]
        if bar is not None:
            pending.append((stats, y.shape[0]))
            if len(pending) > BAR_LAG:
                _advance(bar, *pending.popleft())
        if (i + 1) % check_every == 0:
            _check_finite(sum(s.asscalar() for s in train_l_sum), epoch, trainer)
    if bar is not None:
        while pending:
            _advance(bar, *pending.popleft())
        bar.close()
    return (sum(s.asscalar() for s in train_l_sum),
            sum(s.asscalar() for s in train_acc_sum), n)


def _advance(bar, stats, count):
    """One completed batch onto the bar (waits for that batch's forward pass only)."""
    loss_sum, correct = sum(s.asnumpy() for s in stats)
    bar.update(float(loss_sum), float(correct), count)


def _rate_after(trainer, steps):
    """The learning rate of step ``steps``: the schedule's if there is one (asked
    here, since with a parameter server the optimizer that counts runs there)."""
    scheduler = trainer.optimizer.lr_scheduler
    return float(scheduler(steps)) if scheduler is not None else trainer.learning_rate


def _backward(ls, trainer):
    """Backpropagate the losses; under AMP (``amp.init_trainer``) scaled first."""
    if amp_loss_scaler(trainer) is None:
        for l in ls:
            l.backward()
        return
    from mxnet.contrib import amp
    with autograd.record():  # the scaling must be recorded too (AMP's documented pattern)
        with amp.scale_loss(ls, trainer) as scaled:
            autograd.backward(scaled)


def _check_finite(loss_sum, epoch, trainer):
    if not math.isfinite(loss_sum):
        raise TrainingDiverged(
            f"the training loss became {loss_sum} in epoch {epoch + 1}; "
            f"lower the learning rate (--lr, now {trainer.learning_rate:g})")
