"""Progress wherever the output goes: a tqdm bar in a terminal, tqdm.auto in Jupyter,
and outside both a line every so often (training/progress.py)."""
import io
import os
import re
import subprocess
import sys

import pytest

from vgg_gluon.training import progress

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINE = re.compile(r'epoch (\d+), batch (\d+)/(\d+), loss \d+\.\d{4}, train acc \d\.\d{3}, '
                  r'\d+\.\d img/s, ETA \d+:\d\d:\d\d$')


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_line_only_once_the_interval_has_passed_with_rate_and_time_left():
    clock, out = Clock(), io.StringIO()
    lines = progress.ProgressLines(10, 'epoch 2', every=30, file=out, clock=clock)
    clock.now += 10
    lines.update(64.0, 32, 64)           # 10 s in: nothing yet
    assert out.getvalue() == ''
    clock.now += 30
    lines.update(32.0, 48, 64)           # 40 s in, 2 of 10 batches: 8 left at 20 s each
    assert out.getvalue() == ('epoch 2, batch 2/10, loss 0.7500, train acc 0.625, '
                              '3.2 img/s, ETA 0:02:40\n')
    clock.now += 5
    lines.update(32.0, 48, 64)           # 5 s after the last line: nothing more
    assert out.getvalue().count('\n') == 1
    lines.close()


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv('VGG_GLUON_PROGRESS_SECONDS', '2.5')
    assert progress.progress_seconds() == 2.5
    for bad in ('x', '-1'):
        monkeypatch.setenv('VGG_GLUON_PROGRESS_SECONDS', bad)
        assert progress.progress_seconds() == progress.PROGRESS_SECONDS
    monkeypatch.delenv('VGG_GLUON_PROGRESS_SECONDS')
    assert progress.progress_seconds() == 30


def test_the_kind_follows_where_the_output_goes(monkeypatch):
    assert progress.progress_bar(quiet=True) is None
    monkeypatch.setattr(sys.stderr, 'isatty', lambda: False, raising=False)
    assert progress.progress_bar(quiet=False) is progress.ProgressLines   # pytest: no kernel
    monkeypatch.setattr(sys.stderr, 'isatty', lambda: True, raising=False)
    assert progress.progress_bar(quiet=False) is progress.ProgressBar
    monkeypatch.setattr(progress, 'in_jupyter', lambda: True)
    assert progress.progress_bar(quiet=False) is progress.NotebookBar
    assert not issubclass(progress.ProgressLines, progress.ProgressBar)


def test_the_notebook_bar_is_tqdm_auto():
    from tqdm.auto import tqdm
    assert progress.NotebookBar._tqdm() is tqdm


@pytest.mark.slow
def test_train_piped_prints_progress_lines_on_stderr(tmp_path, fmnist_dir):
    """A real subprocess whose stdout and stderr are pipes, as under `!python` in Colab."""
    proc = subprocess.run(
        [sys.executable, '-m', 'vgg_gluon.train', '--ratio', '8', '--scale-dense',
         '--resize', '32', '--batch-size', '64', '--train-samples', '640',
         '--test-samples', '128', '--epochs', '2', '--data-dir', fmnist_dir,
         '--out', str(tmp_path / 'run')],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, 'PYTHONPATH': ROOT, 'VGG_GLUON_PROGRESS_SECONDS': '0'})
    assert proc.returncode == 0, proc.stderr
    found = [LINE.match(line) for line in proc.stderr.splitlines()]
    assert found and all(found), proc.stderr
    # interval 0: a line for every batch of both epochs, 10 batches of 64 each
    assert [(m[1], m[2], m[3]) for m in found] == [(str(e), str(b), '10') for e in (1, 2)
                                                  for b in range(1, 11)]
    # stdout holds the book's lines only
    book = [line for line in proc.stdout.splitlines() if line.startswith('epoch')]
    assert len(book) == 2 and not any(LINE.match(line) for line in proc.stdout.splitlines())


@pytest.mark.slow
def test_quiet_prints_no_progress_lines(tmp_path, fmnist_dir):
    proc = subprocess.run(
        [sys.executable, '-m', 'vgg_gluon.train', '--ratio', '8', '--scale-dense',
         '--resize', '32', '--batch-size', '64', '--train-samples', '128',
         '--test-samples', '64', '--epochs', '1', '--quiet', '--data-dir', fmnist_dir,
         '--out', str(tmp_path / 'run')],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, 'PYTHONPATH': ROOT, 'VGG_GLUON_PROGRESS_SECONDS': '0'})
    assert proc.returncode == 0 and proc.stderr == '', proc.stderr
