"""I/O faults while a checkpoint is written: one line, exit status 74, nothing lost.

Each fault ends training with one line on stderr: what failed, which epochs
are saved in which directory, and the ``--resume`` command. There is no
traceback, the last complete checkpoint loads (``evaluate``), and resuming
from it ends exactly where the run that never failed ended.

The faults are real where the tests run as root (a small tmpfs that fills
up, a tmpfs remounted read-only mid-run), real everywhere for a run
directory removed mid-run, and injected into the writer everywhere else: an
OSError (ENOSPC, EROFS) or MXNet's own error while a chosen file is written,
and a short file that MXNet does not report.
"""
import errno
import os
import shutil
import subprocess
import sys

import pytest

import mxnet as mx

from run_helpers import metrics, same_params
from vgg_gluon import evaluate, train
from vgg_gluon.runtime import atomic
from vgg_gluon.checkpoint import writer as checkpoint, reader as rundir

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))  # the checkout
ARGS = ['--arch', '1x32,1x64', '--ratio', '8', '--scale-dense', '--resize', '32',
        '--optimizer', 'adam', '--lr', '0.002', '--batch-size', '64',
        '--train-samples', '600', '--test-samples', '100', '--epochs', '3', '--quiet']
PROG = 'python -m vgg_gluon.train'
PAGE = 4096


@pytest.fixture(scope='module')
def reference(tmp_path_factory, fmnist_dir):
    """The run that never failed."""
    out = str(tmp_path_factory.mktemp('faults') / 'reference')
    assert train.main(ARGS + ['--out', out]) == 0
    return out


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in err, err
    return lines[0]


def _saved_line(run_dir, epoch):
    saved = 'epoch 1 is saved' if epoch == 1 else f'epochs 1-{epoch} are saved'
    return f"{saved} in {run_dir}; once it can be written"


def _loads_and_resumes_exactly(run_dir, epoch, reference, tmp_path, capsys):
    """The checkpoint left behind is epoch ``epoch``'s, loads, and resumes to the reference."""
    assert rundir.read_checkpoint(run_dir)['epoch'] == epoch
    assert not [n for n in os.listdir(os.path.join(run_dir, 'checkpoints')) if '.tmp-' in n]
    assert evaluate.main([run_dir, '--test-samples', '50', '--out', str(tmp_path / 'eval')]) == 0
    copy = str(tmp_path / 'resumed')   # the faulty place may still be full or read-only
    shutil.copytree(run_dir, copy)
    assert train.main(['--resume', copy]) == 0
    assert metrics(copy) == metrics(reference)
    assert same_params(copy, reference)
    capsys.readouterr()


# ---- injected into the writer: runs everywhere ----------------------------------

def _raise(error, truncate=True):
    def fail(tmp):
        if truncate:   # half written, as a full disk leaves it
            os.truncate(tmp, os.path.getsize(tmp) // 2)
        raise error
    return fail


ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
EROFS = OSError(errno.EROFS, os.strerror(errno.EROFS))
MXNET_FULL = mx.base.MXNetError('Traceback (most recent call last):\n  File "../3rdparty/'
                                'dmlc-core/src/io/local_filesys.cc", line 38\nMXNetError: '
                                'Check failed: std: :fwrite(ptr, 1, size, fp_) == size: '
                                'FileStream.Write incomplete')
INJECTED = {  # case: (file, which write of it fails, what happens, epochs saved, words)
    'params-full': ('epoch-0002.params', 1, _raise(ENOSPC), 1, 'No space left on device'),
    'params-mxnet': ('epoch-0002.params', 1, _raise(MXNET_FULL), 1, 'FileStream.Write incomplete'),
    'params-read-only': ('epoch-0002.params', 1, _raise(EROFS), 1, 'Read-only file system'),
    'states-full': ('epoch-0002.states.nd', 1, _raise(ENOSPC), 1, 'No space left on device'),
    'manifest-full': ('checkpoint.json', 2, _raise(ENOSPC), 1, 'No space left on device'),
    # model.params is a hard link to the checkpoint's parameters: not truncated
    'view-after-commit': ('model.params', 2, _raise(ENOSPC, False), 2, 'No space left on device'),
}


def _inject(monkeypatch, suffix, nth, fault):
    """The ``nth`` atomic write of a file named ``*suffix`` writes, then meets ``fault``."""
    real, seen = atomic.atomic_write, {'n': 0}

    def faulty(path, write):
        if not path.endswith(suffix):
            return real(path, write)
        seen['n'] += 1
        if seen['n'] != nth:
            return real(path, write)

        def write_then_fault(tmp):
            write(tmp)
            fault(tmp)
        return real(path, write_then_fault)
    monkeypatch.setattr(atomic, 'atomic_write', faulty)       # atomic_write_text, link_or_copy
    monkeypatch.setattr(checkpoint, 'atomic_write', faulty)


@pytest.mark.slow
@pytest.mark.parametrize('case', list(INJECTED))
def test_an_injected_write_fault_is_one_line_and_loses_nothing(case, reference, tmp_path,
                                                               monkeypatch, capsys):
    name, nth, fault, saved, words = INJECTED[case]
    out = str(tmp_path / 'run')
    _inject(monkeypatch, name, nth, fault)
    assert train.main(ARGS + ['--out', out]) == 74
    line = _one_line(capsys.readouterr().err)
    failed = os.path.join(out, name if '/' in name or not name.startswith('epoch')
                          else f'checkpoints/{name}')
    head = (f"epoch 2's checkpoint failed writing {failed}: " if saved == 1 else
            f"epoch 2's checkpoint is saved, but writing {failed} failed: ")
    assert line.startswith(f"{PROG}: error: {head}") and words in line, line
    assert _saved_line(out, saved) in line and line.endswith(f"--resume {out}"), line
    monkeypatch.undo()
    _loads_and_resumes_exactly(out, saved, reference, tmp_path, capsys)


@pytest.mark.slow
def test_a_short_file_that_mxnet_does_not_report_is_caught(reference, tmp_path, monkeypatch,
                                                          capsys):
    """A disk that fills during MXNet's last, buffered write leaves a short file and
    no error (dmlc-core does not check fclose): reading it back catches it."""
    real_save = mx.gluon.Block.save_parameters

    def save_short(self, filename, *args, **kwargs):
        real_save(self, filename, *args, **kwargs)
        if 'epoch-0002' in filename:
            os.truncate(filename, os.path.getsize(filename) - 7)
    monkeypatch.setattr(mx.gluon.Block, 'save_parameters', save_short)
    out = str(tmp_path / 'run')
    assert train.main(ARGS + ['--out', out]) == 74
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"{PROG}: error: epoch 2's checkpoint failed writing {out}/"
                           f"checkpoints/epoch-0002.params: incomplete after writing"), line
    assert _saved_line(out, 1) in line, line
    monkeypatch.undo()
    _loads_and_resumes_exactly(out, 1, reference, tmp_path, capsys)


def _after_epoch_1(monkeypatch, action):
    """Run ``action`` (the fault) right after epoch 1's checkpoint is written."""
    real_save = checkpoint.CheckpointWriter.save

    def save_then_act(self, net, trainer, record):
        manifest = real_save(self, net, trainer, record)
        if record['epoch'] == 1:
            action()
        return manifest
    monkeypatch.setattr(checkpoint.CheckpointWriter, 'save', save_then_act)


@pytest.mark.slow
def test_a_run_directory_removed_mid_run_is_one_line(tmp_path, monkeypatch, capsys, fmnist_dir):
    out = str(tmp_path / 'run')
    _after_epoch_1(monkeypatch, lambda: shutil.rmtree(out))
    assert train.main(ARGS + ['--out', out]) == 74
    line = _one_line(capsys.readouterr().err)
    assert line == (f"{PROG}: error: epoch 2's checkpoint failed writing "
                    f"{out}/checkpoints: No such file or directory; nothing is saved "
                    f"({out} does not exist)")
    assert not os.path.exists(out)   # not recreated behind the user's back


def test_a_run_directory_that_cannot_be_created_is_one_line(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    out = str(blocker / 'run')
    assert train.main(ARGS + ['--out', out]) == 74
    line = _one_line(capsys.readouterr().err)
    assert line == (f"{PROG}: error: cannot create the run directory {out}: Not a directory; "
                    f"nothing is saved ({out} does not exist)")


# ---- real faults on a tmpfs: root only -------------------------------------------

@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a fresh tmpfs of ``size`` bytes; unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    mounted = []

    def mount(size):
        where = tmp_path / f'tmpfs{len(mounted)}'
        where.mkdir()
        proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs',
                               str(where)], capture_output=True, text=True)
        if proc.returncode:
            pytest.skip(f'cannot mount a tmpfs here: {proc.stderr.strip()}')
        mounted.append(where)
        return str(where)
    yield mount
    for where in mounted:
        subprocess.run(['umount', str(where)], check=True)


def _pages(path):
    return -(-os.path.getsize(path) // PAGE) * PAGE


@pytest.mark.slow
@pytest.mark.parametrize('fills_at', ['epoch-0002.params', 'epoch-0002.states.nd'])
def test_a_disk_that_fills_is_one_line_and_loses_nothing(fills_at, reference, tmpfs, tmp_path,
                                                         capsys):
    """A real full disk, in a real process (so that anything MXNet's C++ prints is seen).

    The tmpfs holds epoch 1's checkpoint and half of epoch 2's parameters
    (or all of them and half of its optimizer states): epoch 2's checkpoint
    meets ENOSPC while epoch 1's still stands.
    """
    params = _pages(os.path.join(reference, 'checkpoints', 'epoch-0003.params'))
    states = _pages(os.path.join(reference, 'checkpoints', 'epoch-0003.states.nd'))
    small = sum(_pages(os.path.join(reference, n))
                for n in ('checkpoint.json', 'metrics.jsonl', 'config.json'))
    epoch_1 = params + states + 2 * small + 4 * PAGE
    extra = params // 2 if fills_at.endswith('.params') else params + states // 2
    out = os.path.join(tmpfs(epoch_1 + extra), 'run')
    proc = subprocess.run([sys.executable, '-m', 'vgg_gluon.train', *ARGS, '--out', out],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 74, proc.stderr
    line = _one_line(proc.stderr)
    assert line.startswith(f"{PROG}: error: epoch 2's checkpoint failed writing "
                           f"{out}/checkpoints/{fills_at}: "), line
    assert 'FileStream.Write incomplete' in line or 'No space left on device' in line, line
    assert _saved_line(out, 1) in line and line.endswith(f"--resume {out}"), line
    _loads_and_resumes_exactly(out, 1, reference, tmp_path, capsys)


@pytest.mark.slow
def test_a_directory_made_read_only_mid_run_is_one_line(reference, tmpfs, tmp_path, capsys,
                                                        monkeypatch):
    where = tmpfs(64 << 20)
    out = os.path.join(where, 'run')
    _after_epoch_1(monkeypatch, lambda: subprocess.run(['mount', '-o', 'remount,ro', where],
                                                       check=True))
    assert train.main(ARGS + ['--out', out]) == 74
    line = _one_line(capsys.readouterr().err)
    assert line == (f"{PROG}: error: epoch 2's checkpoint failed writing {out}/checkpoints/"
                    f"epoch-0002.params: Read-only file system; {_saved_line(out, 1)} "
                    f"(free space, write permission), continue with: {PROG} --resume {out}")
    monkeypatch.undo()
    # resuming while it is still read-only fails before an epoch is spent
    assert train.main(['--resume', out]) == 74
    captured = capsys.readouterr()
    assert 'epoch 2' not in captured.out
    assert _one_line(captured.err).startswith(
        f"{PROG}: error: cannot write into {out}: Read-only file system; "
        f"{_saved_line(out, 1)}")
    _loads_and_resumes_exactly(out, 1, reference, tmp_path, capsys)
