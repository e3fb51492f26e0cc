"""A learning curve that redraws while ``train_ch5`` runs, as d2l's ``Animator`` does.

d2l clears the cell's output and draws the figure again at every point. Here the figure is
one output of the cell that is replaced in place (an IPython display handle), so the
progress bar and the book's epoch lines printed in the same cell stay; and it is redrawn at
most every ``every`` seconds, since a PNG costs tens of milliseconds. Outside Jupyter
nothing is shown; ``save(path)`` writes the last figure either way.

``LiveCurve`` gives ``TrainOptions`` what feeds it: a ``bar`` that adds the running train
loss and accuracy ``per_epoch`` times an epoch (passing every batch on to the usual
progress bar), and an ``on_epoch_end`` that adds the test accuracy::

    curve = LiveCurve(num_epochs, bar=progress_bar(quiet=False))
    train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx, num_epochs,
              options=TrainOptions(bar=curve.bar, on_epoch_end=curve.on_epoch_end))
"""
import io
import time

from .progress import in_jupyter

LEGEND = ('train loss', 'train acc', 'test acc')
FORMATS = ('-', 'm--', 'g-.')   # d2l's Animator's


class Animator:
    """Series of points over one x axis, drawn as one figure that replaces itself.

    add(x, ys): a point of each series at x (ys as long as ``legend``; None skips a series).
    show(value): what displays the figure: None picks IPython's display in a Jupyter
    kernel, else nothing (a terminal, a script, a test); a callable is given the PNG bytes.
    """

    def __init__(self, xlabel='epoch', legend=LEGEND, fmts=FORMATS, xlim=None, ylim=None,
                 figsize=(3.5, 2.5), every=1.0, show=None, clock=time.monotonic):
        self.xlabel, self.legend, self.fmts = xlabel, tuple(legend), tuple(fmts)
        self.xlim, self.ylim, self.figsize = xlim, ylim, figsize
        self.every, self.clock = every, clock
        self.X = [[] for _ in self.legend]
        self.Y = [[] for _ in self.legend]
        self.drawn = None          # when last drawn (clock), None before the first
        self.draws = 0
        self.pending = False       # points added since the last draw
        self.show = show if show is not None else (_JupyterOutput() if in_jupyter() else None)

    def add(self, x, ys):
        if len(ys) != len(self.legend):
            raise ValueError(f'{len(ys)} values for {len(self.legend)} series {self.legend}')
        for i, y in enumerate(ys):
            if y is not None:
                self.X[i].append(x)
                self.Y[i].append(y)
        now = self.clock()
        if self.show is not None and (self.drawn is None or now - self.drawn >= self.every):
            self.redraw(now)
        else:
            self.pending = True

    def redraw(self, now=None):
        """Draw the figure now and show it (replacing the one shown before)."""
        self.drawn = self.clock() if now is None else now
        self.pending = False
        if self.show is not None:
            self.draws += 1
            self.show(self.png())

    def png(self):
        """The figure as PNG bytes."""
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=self.figsize)
        for x, y, fmt, label in zip(self.X, self.Y, self.fmts, self.legend):
            if x:
                ax.plot(x, y, fmt, label=label)
        ax.set_xlabel(self.xlabel)
        if self.xlim is not None:
            ax.set_xlim(*self.xlim)
        if self.ylim is not None:
            ax.set_ylim(*self.ylim)
        ax.grid()
        if any(self.X):
            ax.legend()
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format='png', dpi=100)
        plt.close(fig)
        return buffer.getvalue()

    def close(self):
        """Draw the points added since the last draw, however recent it was."""
        if self.pending:
            self.redraw()

    def save(self, path):
        with open(path, 'wb') as f:
            f.write(self.png())


class _JupyterOutput:
    """One image output of the running cell, replaced at each call."""

    def __init__(self):
        self.handle = None

    def __call__(self, png):
        from IPython.display import Image, display
        if self.handle is None:
            self.handle = display(Image(data=png, format='png'), display_id=True)
        else:
            self.handle.update(Image(data=png, format='png'))


class LiveCurve:
    """train_ch5's hooks feeding an ``Animator`` over epochs ``start_epoch + 1 .. num_epochs``.

    bar: the progress bar each epoch also gets (``progress.progress_bar``'s value, or None).
    """

    def __init__(self, num_epochs, start_epoch=0, per_epoch=5, bar=None, animator=None):
        self.animator = animator or Animator(xlim=(start_epoch, max(num_epochs, start_epoch + 1)))
        self.epoch, self.per_epoch, self.inner = start_epoch, per_epoch, bar

    def bar(self, total, desc):
        """TrainOptions' ``bar``: made by train_ch5 at the start of each epoch."""
        inner = self.inner(total, desc) if self.inner is not None else None
        return _EpochPoints(self.animator, self.epoch, total, self.per_epoch, inner)

    def on_epoch_end(self, record):
        """TrainOptions' ``on_epoch_end``: the epoch's test accuracy, drawn at once."""
        self.epoch = record['epoch']
        self.animator.add(record['epoch'], (None, None, record['test_acc']))
        self.animator.close()


class _EpochPoints:
    """One epoch's bar: the running loss and accuracy as points at epoch + done/total."""

    def __init__(self, animator, epoch, total, per_epoch, inner):
        self.animator, self.epoch, self.total, self.inner = animator, epoch, total, inner
        self.step = max(1, total // per_epoch)
        self.done = self.loss = self.correct = self.n = 0

    def update(self, loss_sum, correct, n):
        self.done += 1
        self.loss, self.correct, self.n = self.loss + loss_sum, self.correct + correct, self.n + n
        if self.done % self.step == 0 or self.done == self.total:
            self.animator.add(self.epoch + self.done / self.total,
                              (self.loss / self.n, self.correct / self.n, None))
        if self.inner is not None:
            self.inner.update(loss_sum, correct, n)

    def close(self):
        if self.inner is not None:
            self.inner.close()
