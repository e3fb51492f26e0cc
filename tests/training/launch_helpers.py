"""What the tests of jobs share (imported as ``launch_helpers`` by test_launcher,
test_distributed_parity, test_distributed_faults and test_multihost): the
training command lines, starting a job and ending every process it left, and
comparing a job's run directory with one process's.

Every launch must start: no test starts a job again when it fails.
"""
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import numpy as np
import pytest
import mxnet as mx

from run_helpers import metrics

ROOT = pathlib.Path(__file__).resolve().parents[2]   # the checkout: jobs run from there
PY = sys.executable
TRAIN = ['-m', 'vgg_gluon.train', '--ratio', '8', '--resize', '32', '--epochs', '1',
         '--train-samples', '768', '--test-samples', '256', '--batch-size', '64',
         '--dropout', '0', '--optimizer', 'adam', '--lr', '0.001', '--quiet']
# the train command's defaults (VGG-11/4, SGD, batch 128, hybridized) on a small slice
DEFAULTS = ['-m', 'vgg_gluon.train', '--resize', '32', '--epochs', '1', '--train-samples', '512',
            '--test-samples', '128', '--quiet']
DEFAULTS_2_EPOCHS = DEFAULTS + ['--epochs', '2', '--dropout', '0']
# a two-block VGG small enough to learn in a second an epoch (engines, jittering, faults);
# the equality tests use one epoch of SGD: at lr 0.1 rounding differences (two sums of 32
# gradients against one of 64) grow about 1.5x a step, to 1e-6 after 16 steps, 3e-3 after 32
TINY = ['-m', 'vgg_gluon.train', '--arch', '1x64,1x128', '--ratio', '8', '--scale-dense',
        '--resize', '32', '--epochs', '2', '--train-samples', '1024', '--test-samples', '256',
        '--batch-size', '64', '--dropout', '0', '--optimizer', 'adam', '--lr', '0.001', '--quiet']
TINY_SGD = TINY + ['--optimizer', 'sgd', '--lr', '0.1', '--epochs', '1']


def job_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith('DMLC_')}
    env['OMP_NUM_THREADS'] = '1'  # one thread a process: the runs compare, not race
    return env


def run_job(cmd, timeout=240, **env):
    """Run a job; past ``timeout`` kill every process it started and fail.

    Output goes to files, not pipes: a grandchild left running (horovodrun's
    workers are not in its process group) would keep a pipe open and block the
    test forever.
    """
    marker = uuid.uuid4().hex
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        proc = subprocess.Popen(cmd, cwd=ROOT,
                                env={**job_env(), **env, 'VGG_GLUON_TEST_JOB': marker},
                                stdout=out, stderr=err, text=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        time.sleep(0.5)  # let exiting workers go
        left = job_pids(marker)
        for pid, _ in left:
            os.kill(pid, signal.SIGKILL)
        proc.wait()
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    assert not timed_out, f"{cmd[:3]}: killed after {timeout} s\n{result.stdout[-3000:]}"
    assert not left, f"{cmd[:3]}: {len(left)} processes left running after the job ended"
    return result


def job_pids(marker):
    """Processes whose environment carries ``marker`` (this test's job)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                env = f.read().split(b'\0')
        except OSError:
            continue
        if f'VGG_GLUON_TEST_JOB={marker}'.encode() in env:
            pids.append((int(pid), env))
    return pids


def start_job(cmd, tmp_path):
    """Start a launcher job with a marker in its environment; output to files."""
    marker = uuid.uuid4().hex
    out, err = open(tmp_path / 'out.txt', 'w+'), open(tmp_path / 'err.txt', 'w+')
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(job_env(), VGG_GLUON_TEST_JOB=marker),
                            stdout=out, stderr=err, text=True)
    return proc, marker, out, err


def wait_for(path, text, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if text in path.read_text():
            return True
        time.sleep(0.2)
    return False


def end_of(proc, marker, out, err, seconds):
    """Wait for the launcher at most ``seconds`` (a hang guard, not a timing
    measurement); returns (status, stdout, stderr, processes left)."""
    try:
        rc = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        rc = None
    time.sleep(0.5)   # let the last processes be reaped
    left = job_pids(marker)
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    if rc is None:
        proc.kill()
        proc.wait()
    out.seek(0)
    err.seek(0)
    return rc, out.read(), err.read(), left


def read_params(run_dir):
    return {k: v.asnumpy() for k, v in mx.nd.load(os.path.join(run_dir, 'model.params')).items()}


def one_process_run(tmp_path_factory, name, argv, **env):
    """A one-process run directory to compare the workers' with."""
    out = str(tmp_path_factory.mktemp('dist') / name)
    result = run_job([PY, *argv, '--out', out], **env)
    assert result.returncode == 0, result.stderr
    return out


def assert_same_training(single, run_dir, learned=True):
    reference, params = read_params(single), read_params(run_dir)
    assert params.keys() == reference.keys()
    # Adam moves every weight by about lr a step whatever the gradient's size, so
    # a near-zero gradient summed in another order can move a few weights by up
    # to ~lr; almost all agree to float precision.
    diffs = []
    for name in reference:
        np.testing.assert_allclose(params[name], reference[name], rtol=0, atol=2e-3,
                                   err_msg=name)
        diffs.append(np.abs(params[name] - reference[name]).ravel())
    assert np.median(np.concatenate(diffs)) < 1e-6
    assert np.mean(np.concatenate(diffs) > 1e-4) < 0.01
    expected, got = metrics(single), metrics(run_dir)
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        for key in ('loss', 'train_acc', 'test_acc'):  # reduced over both workers
            assert have[key] == pytest.approx(want[key], rel=1e-3, abs=1e-5), key
    if learned:
        assert expected[-1]['test_acc'] > 0.2  # it learned (chance is 0.1)
