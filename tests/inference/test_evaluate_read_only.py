"""evaluate on a read-only run directory (issue 26): without --out it refuses in
one line, naming --out, before it reads the network or the test set; with --out
it writes there and leaves the run directory as it was.

The directory is really read-only: as root (where mode bits do not stop
writes) a tmpfs remounted read-only, as tests/checkpoint/test_io_faults.py
does; otherwise a folder chmod 0555."""
import os
import shutil
import subprocess
import sys

import pytest

from run_helpers import dir_hash
from vgg_gluon import train

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TINY = ['--arch', '1x32,1x64', '--ratio', '8', '--scale-dense', '--resize', '32',
        '--batch-size', '64', '--train-samples', '128', '--test-samples', '64', '--quiet',
        '--gpus', 'cpu', '--epochs', '1']


@pytest.fixture
def read_only_run(tmp_path, fmnist_dir):
    """A finished run directory that cannot be written, even by root."""
    built = str(tmp_path / 'built')
    assert train.main(TINY + ['--out', built]) == 0
    where = tmp_path / 'ro'
    where.mkdir()
    mounted = False
    if os.geteuid() == 0:
        proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', str(where)],
                              capture_output=True, text=True)
        if proc.returncode:
            pytest.skip(f'cannot mount a tmpfs here as root: {proc.stderr.strip()}')
        mounted = True
    run = str(where / 'run')
    shutil.copytree(built, run)
    if mounted:
        subprocess.run(['mount', '-o', 'remount,ro', str(where)], check=True)
    else:
        for root, dirs, _ in os.walk(run):
            for name in [root] + [os.path.join(root, d) for d in dirs]:
                os.chmod(name, 0o555)
    with pytest.raises(OSError):   # the premise: nothing can be created in it
        open(os.path.join(run, 'probe'), 'w')
    yield run
    if mounted:
        subprocess.run(['umount', str(where)], check=True)
    else:
        for root, dirs, _ in os.walk(run):
            os.chmod(root, 0o755)


def _evaluate(*args):
    return subprocess.run([sys.executable, '-m', 'vgg_gluon.evaluate', *args, '--gpus', 'cpu',
                           '--test-samples', '32'], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_read_only_run_dir_without_out_refused_before_any_work(read_only_run, tmp_path):
    before = dir_hash(read_only_run)
    # a --data-dir with no files would be the first error if the test set were read first
    empty = tmp_path / 'no-data'
    empty.mkdir()
    proc = _evaluate(read_only_run, '--data-dir', str(empty))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == '' and proc.stderr.count('\n') == 1, proc.stderr
    reason = 'Read-only file system' if os.geteuid() == 0 else 'Permission denied'
    assert proc.stderr == (f"python -m vgg_gluon.evaluate: error: RUN_DIR: cannot write "
                           f"confusion.png and evaluation.json into {read_only_run} ({reason}); "
                           f"give --out DIR to write them there (nothing was evaluated)\n")
    assert dir_hash(read_only_run) == before


@pytest.mark.slow
def test_read_only_run_dir_with_out_writes_there(read_only_run, tmp_path):
    before = dir_hash(read_only_run)
    out = tmp_path / 'elsewhere' / 'eval'
    proc = _evaluate(read_only_run, '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ''
    assert sorted(os.listdir(out)) == ['confusion.png', 'evaluation.json']
    assert f"evaluation.json in {out}" in proc.stdout
    assert dir_hash(read_only_run) == before
