"""Progress during an epoch, wherever the run's output goes.

``progress_bar(quiet)`` picks what ``TrainOptions.bar`` makes for each epoch:

- in a terminal (stderr is a TTY): a tqdm bar, as always;
- in Jupyter (an IPython kernel runs this process): ``tqdm.auto``'s notebook bar;
- anywhere else (a pipe, a log file, ``!python -m vgg_gluon.train`` in Colab or
  Jupyter, whose output is a pipe): one line on stderr every
  ``$VGG_GLUON_PROGRESS_SECONDS`` seconds (default 30), e.g.
  ``epoch 1, batch 120/469, loss 0.8123, train acc 0.702, 412.3 img/s, ETA 0:14:07``.

stdout keeps only the book's lines (``epoch 1, loss ...``), so it stays a log to parse.
Every kind has ``update(loss_sum, correct, n)`` per completed batch and ``close()``.
"""
import os
import sys
import time

PROGRESS_SECONDS = 30.0   # between two progress lines when not in a terminal


def in_jupyter():
    """True when this process is a Jupyter kernel (not a ``!python`` it started)."""
    shell = sys.modules.get('IPython') and sys.modules['IPython'].get_ipython()
    return shell is not None and type(shell).__name__ == 'ZMQInteractiveShell'


def progress_seconds():
    """Seconds between progress lines: $VGG_GLUON_PROGRESS_SECONDS, else 30."""
    text = os.environ.get('VGG_GLUON_PROGRESS_SECONDS', '')
    try:
        seconds = float(text) if text else PROGRESS_SECONDS
    except ValueError:
        seconds = PROGRESS_SECONDS
    return seconds if seconds >= 0 else PROGRESS_SECONDS


def progress_bar(quiet):
    """TrainOptions' ``bar``: a class made once per epoch as ``bar(total, desc)``,
    or None when quiet."""
    if quiet:
        return None
    if in_jupyter():
        return NotebookBar
    if sys.stderr.isatty():
        return ProgressBar
    return ProgressLines


class _Running:
    """The running loss and accuracy of the epoch's completed batches."""

    def __init__(self):
        self.loss = self.correct = self.n = 0

    def add(self, loss_sum, correct, n):
        self.loss, self.correct, self.n = self.loss + loss_sum, self.correct + correct, self.n + n

    def text(self):
        return f"loss {self.loss / self.n:.4f}, train acc {self.correct / self.n:.3f}"


class ProgressBar:
    """tqdm advanced by train_ch5 as batches complete, with the running loss and accuracy.

    The loop calls ``update`` for a batch once its loss is computed (a
    couple of batches behind the queue, loop.BAR_LAG), so the rate and the
    time left are the work's, not the enqueueing's.
    """

    def __init__(self, total, desc):
        self.tqdm = self._tqdm()(total=total, desc=desc, leave=False, file=sys.stderr,
                                 unit='batch')
        self.running = _Running()

    @staticmethod
    def _tqdm():
        from tqdm import tqdm
        return tqdm

    def update(self, loss_sum, correct, n):
        self.running.add(loss_sum, correct, n)
        self.tqdm.set_postfix_str(self.running.text(), refresh=False)
        self.tqdm.update(1)

    def close(self):
        self.tqdm.close()


class NotebookBar(ProgressBar):
    """The same bar drawn as a Jupyter widget (tqdm.auto; text if ipywidgets is missing)."""

    @staticmethod
    def _tqdm():
        from tqdm.auto import tqdm
        return tqdm


class ProgressLines:
    """A progress line on ``file`` (stderr) every ``every`` seconds of an epoch:
    epoch, batch i/n, running loss and accuracy, images per second, time left."""

    def __init__(self, total, desc, every=None, file=None, clock=time.monotonic):
        self.total, self.desc, self.file, self.clock = total, desc, file or sys.stderr, clock
        self.every = progress_seconds() if every is None else every
        self.running, self.done = _Running(), 0
        self.start = self.last = clock()

    def update(self, loss_sum, correct, n):
        self.running.add(loss_sum, correct, n)
        self.done += 1
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            print(self.line(now), file=self.file, flush=True)

    def line(self, now):
        elapsed = max(now - self.start, 1e-9)
        left = elapsed / self.done * (self.total - self.done)
        return (f"{self.desc}, batch {self.done}/{self.total}, {self.running.text()}, "
                f"{self.running.n / elapsed:.1f} img/s, ETA {_clock_time(left)}")

    def close(self):
        pass


def _clock_time(seconds):
    """'1:02:03' for 3723 seconds."""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
