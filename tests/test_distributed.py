"""Data-parallel training on loopback: the parameter server (via the launcher) and Horovod.

The equality tests train a small VGG (ratio 8, 32 px, dropout off) on a real
Fashion-MNIST slice once in one process and once with 2 workers, and compare
the final parameters and the reduced metrics.
"""
import json
import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import numpy as np
import pytest
import mxnet as mx

from vgg_gluon import launch, train
from vgg_gluon.config import ConfigError
from vgg_gluon.data import BatchIter
from vgg_gluon.distributed import Workers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
TRAIN = ['-m', 'vgg_gluon.train', '--ratio', '8', '--resize', '32', '--epochs', '1',
         '--train-samples', '768', '--test-samples', '256', '--batch-size', '64',
         '--dropout', '0', '--optimizer', 'adam', '--lr', '0.001', '--quiet',
         '--no-hybridize']  # adam + hybridize crashed the dist_sync server here: see README
LAUNCH = [PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--timeout', '240', '--']


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith('DMLC_')}
    env['OMP_NUM_THREADS'] = '1'  # one thread a process: the runs compare, not race
    return env


def _run(cmd, timeout=240, **env):
    """Run a job; past ``timeout`` kill every process it started and fail.

    Output goes to files, not pipes: a grandchild left running (horovodrun's
    workers are not in its process group) would keep a pipe open and block the
    test forever.
    """
    marker = uuid.uuid4().hex
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**_env(), **env, 'VGG_GLUON_TEST_JOB': marker},
                                stdout=out, stderr=err, text=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        time.sleep(0.5)  # let exiting workers go
        left = _job_pids(marker)
        for pid, _ in left:
            os.kill(pid, signal.SIGKILL)
        proc.wait()
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    assert not timed_out, f"{cmd[:3]}: killed after {timeout} s\n{result.stdout[-3000:]}"
    assert not left, f"{cmd[:3]}: {len(left)} processes left running after the job ended"
    return result


def _params(run_dir):
    return {k: v.asnumpy() for k, v in mx.nd.load(os.path.join(run_dir, 'model.params')).items()}


def _metrics(run_dir):
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope='module')
def single(tmp_path_factory):
    """One process, global batch 64: the reference run directory."""
    out = str(tmp_path_factory.mktemp('dist') / 'single')
    result = _run([PY, *TRAIN, '--out', out])
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope='module')
def single_without_onednn(tmp_path_factory):
    """The reference run with oneDNN off, as Horovod needs it on the CPU: its
    plain convolution kernels round differently, and Adam turns the tiny
    differences of near-zero gradients into steps of about lr."""
    out = str(tmp_path_factory.mktemp('dist') / 'single-plain')
    result = _run([PY, *TRAIN, '--out', out], MXNET_MKLDNN_ENABLED='0')
    assert result.returncode == 0, result.stderr
    return out


def _assert_same_training(single, run_dir):
    reference, params = _params(single), _params(run_dir)
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
    (expected,), (got,) = _metrics(single), _metrics(run_dir)
    for key in ('loss', 'train_acc', 'test_acc'):  # reduced over both workers
        assert got[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-5), key
    assert expected['test_acc'] > 0.2  # it learned (chance is 0.1)


# ---- sharding ---------------------------------------------------------------

def test_shards_are_the_global_batches():
    labels = np.arange(10) % 10
    images = np.zeros((10, 4, 4), dtype=np.uint8)
    whole = BatchIter(images, labels, 4, shuffle=True, seed=3)
    shards = [BatchIter(images, labels, 4, shuffle=True, seed=3).shard(r, 3) for r in range(3)]
    for it in [whole] + shards:
        it.set_epoch(2)
    batches = [y.asnumpy() for _, y in whole]
    parts = [[y.asnumpy() for _, y in it] for it in shards]
    # the last batch (2 images) has no share for worker 2, which skips it
    assert [len(p) for p in parts] == [3, 3, 2]
    for i, batch in enumerate(batches):
        joined = np.concatenate([p[i] for p in parts if i < len(p)])
        np.testing.assert_array_equal(np.sort(joined), np.sort(batch))
        np.testing.assert_array_equal(parts[0][i], batch[0::3])


def test_batches_some_worker_would_miss_are_refused():
    images, labels = np.zeros((10, 4, 4), dtype=np.uint8), np.zeros(10)
    for batch_size in (2, 4):  # fewer images than workers; a last batch of 2
        with pytest.raises(ConfigError) as err:
            Workers('dist_sync', 0, 3).shard(BatchIter(images, labels, batch_size),
                                             BatchIter(images, labels, batch_size), batch_size)
        assert err.value.flag == 'batch_size'
    train_iter = BatchIter(images, labels, 5)
    Workers('dist_sync', 1, 3).shard(train_iter, BatchIter(images, labels, 5), 5)
    assert (train_iter.rank, train_iter.num_workers) == (1, 3)


# ---- the train command line --------------------------------------------------

@pytest.mark.parametrize('argv, flag', [
    (['--kvstore', 'dist_sync'], '--kvstore'),            # not started by the launcher
    (['--kvstore', 'dist_async', '--horovod'], '--horovod'),
    (['--kvstore', 'nccl'], '--kvstore'),
    (['--dropout', '1'], '--dropout'),
])
def test_train_rejects_bad_distributed_flags(argv, flag, capsys, tmp_path, monkeypatch):
    for name in [k for k in os.environ if k.startswith('DMLC_')]:
        monkeypatch.delenv(name)
    out = tmp_path / 'run'
    with pytest.raises(SystemExit) if argv[-1] == 'nccl' else _no_exit():
        assert train.main(argv + ['--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err, err
    assert not out.exists()


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---- the launcher: flags, plan, ssh command -----------------------------------

@pytest.mark.parametrize('argv, words', [
    (['-n', '2', '-s', '1', 'python', 'x.py'], 'after --'),
    (['-n', '0', '-s', '1', '--', 'python'], '-n'),
    (['-n', '2', '--', 'python'], '-s'),
    (['-n', '2', '-s', '1', '--port', '70000', '--', 'python'], '--port'),
    (['-n', '2', '-s', '1', '--'], 'empty'),
])
def test_launch_rejects_bad_flags(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        launch.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_launch_rejects_a_bad_hostfile(tmp_path, capsys):
    empty = tmp_path / 'hosts'
    empty.write_text('# nobody\n\n')
    for path in (empty, tmp_path / 'missing'):
        assert launch.main(['-n', '1', '-s', '1', '--hostfile', str(path), '--', 'true']) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and '--hostfile' in err, err


def test_local_plan_is_loopback_with_ascending_ports():
    nodes = launch.plan(3, 2, 9999)
    assert [n.label for n in nodes] == ['scheduler', 'server 0', 'server 1',
                                        'worker 0', 'worker 1', 'worker 2']
    for node in nodes:
        assert node.env['DMLC_PS_ROOT_URI'] == node.env['DMLC_NODE_HOST'] == '127.0.0.1'
        assert node.env['DMLC_ROLE'] == node.role
        assert (node.env['DMLC_NUM_WORKER'], node.env['DMLC_NUM_SERVER']) == ('3', '2')
    worker_ports = [int(n.env['PORT']) for n in nodes if n.role == 'worker']
    assert worker_ports == sorted(worker_ports)  # ps-lite ranks by port: worker i is rank i


def test_ssh_plan_and_command(tmp_path):
    hostfile = tmp_path / 'hosts'
    hostfile.write_text('node-a  # the scheduler runs here\nnode-b\n')
    hosts = launch.read_hostfile(str(hostfile))
    nodes = launch.plan(2, 1, 9091, hosts)
    assert [n.label for n in nodes] == ['scheduler@node-a', 'server 0@node-a',
                                        'worker 0@node-a', 'worker 1@node-b']
    worker = nodes[-1]
    cmd = launch.ssh_command(worker.host, worker.env, ['python', '-m', 'vgg_gluon.train',
                                                       '--out', 'runs/a b'], '/srv/my dir')
    assert cmd[:5] == ['ssh', '-tt', '-o', 'BatchMode=yes', 'node-b']
    remote = shlex.split(cmd[5])
    assert remote[:5] == ['cd', '/srv/my dir', '&&', 'exec', 'env']
    assert remote[-5:] == ['python', '-m', 'vgg_gluon.train', '--out', 'runs/a b']
    env = dict(a.split('=', 1) for a in remote[5:-5])
    assert env['DMLC_ROLE'] == 'worker' and env['DMLC_NODE_HOST'] == 'node-b'
    assert env['DMLC_PS_ROOT_URI'] == 'node-a' and env['DMLC_PS_ROOT_PORT'] == '9091'
    assert env['DMLC_NUM_WORKER'] == '2' and env['DMLC_NUM_SERVER'] == '1'


def test_readme_launch_example_parses():
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    section = text.split('## Several GPUs and several machines')[1].split('\n## ')[0]
    lines = [line for line in section.splitlines() if line.startswith('python -m vgg_gluon.launch')]
    assert lines, 'README shows no launcher example'
    argv = shlex.split(lines[0])[3:]
    args, command = launch.parse_args(argv)
    assert command[:3] == ['python', '-m', 'vgg_gluon.train']
    config = train.parse_config(command[3:])
    assert config.kvstore.startswith('dist')


# ---- loopback runs -------------------------------------------------------------

def _dist_sync(train_args, tmp_path):
    """(result, run directory) of a two-worker dist_sync job."""
    for attempt in range(3):
        out = str(tmp_path / f'dist{attempt}')
        result = _run(LAUNCH + [PY, *train_args, '--kvstore', 'dist_sync', '--out', out])
        # MXNet 1.9's parameter server sometimes aborts at start-up with "Check
        # failed: !stored.is_none(): init 0 first" (a race inside ps-lite, seen
        # here in about one run of five; README, Known limits): start again.
        if not (result.returncode == 134 and 'first' in result.stdout and 'init' in result.stdout):
            break
    assert result.returncode == 0, result.stdout + result.stderr
    return result, out


# The training toolkit on: the servers run NAG with the schedule and the per-index
# weight decay (MXNet pickles the optimizer without the parameters' wd_mult), and the
# augmentation is drawn per global batch before sharding. No batch norm: it would
# normalise over each worker's half batch.
TOOLKIT = [a for a in TRAIN if a not in ('adam', '0.001', '--optimizer', '--lr')] + [
    '--optimizer', 'nag', '--momentum', '0.9', '--lr', '0.05', '--wd', '5e-3',
    '--lr-schedule', 'cosine', '--label-smoothing', '0.1', '--augment', 'crop,flip,erase']


def test_dist_sync_with_the_toolkit_matches_one_process(tmp_path):
    single = str(tmp_path / 'single')
    result = _run([PY, *TOOLKIT, '--out', single])
    assert result.returncode == 0, result.stderr
    _, out = _dist_sync(TOOLKIT, tmp_path)
    reference, params = _params(single), _params(out)
    assert params.keys() == reference.keys()
    for name in reference:  # no Adam here: every weight agrees to float rounding
        np.testing.assert_allclose(params[name], reference[name], rtol=0, atol=1e-5,
                                   err_msg=name)
        assert np.abs(params[name]).max() > 0, name        # biases too are trained
    (expected,), (got,) = _metrics(single), _metrics(out)
    for key in ('loss', 'train_acc', 'test_acc', 'lr'):  # reduced over both workers
        assert got[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-5), key


def test_dist_sync_two_workers_match_one_process(single, tmp_path):
    result, out = _dist_sync(TRAIN, tmp_path)
    _assert_same_training(single, out)
    # only rank 0 prints the book's lines
    assert re.search(r'^\[worker 0\] epoch 1, loss', result.stdout, re.M), result.stdout
    assert '[worker 1] epoch' not in result.stdout


def _horovodrun():
    # Looked up, not imported: importing horovod.mxnet exposes libmxnet's own
    # libjpeg to the whole process, and Pillow's JPEG codec then fails in
    # every later test ("broken data stream when writing image file").
    if importlib.util.find_spec('horovod') is None or not os.path.exists(os.path.join(
            os.path.dirname(importlib.util.find_spec('horovod').origin), 'mxnet')):
        return None
    path = os.path.join(os.path.dirname(PY), 'horovodrun')
    return path if os.path.exists(path) else None


@pytest.mark.skipif(_horovodrun() is None,
                    reason='Horovod is an optional extra (scripts/setup.sh horovod); not installed')
def test_horovod_two_processes_match_one_process(single_without_onednn, tmp_path):
    out = str(tmp_path / 'hvd')
    # MXNET_MKLDNN_ENABLED=0: Horovod cannot all-reduce MXNet's oneDNN-layout
    # arrays on CPU ("We can't generate TBlob for MKLDNN data")
    result = _run(['env', 'MXNET_MKLDNN_ENABLED=0', _horovodrun(), '-np', '2', '-H', 'localhost:2', '--gloo',
                   '--network-interface', 'lo', PY, *TRAIN, '--horovod', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_same_training(single_without_onednn, out)


def _job_pids(marker):
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


def test_a_killed_worker_ends_the_job(tmp_path):
    marker = uuid.uuid4().hex
    env = dict(_env(), VGG_GLUON_TEST_JOB=marker)
    cmd = [PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--grace', '3', '--']
    cmd += [PY, *TRAIN, '--epochs', '20', '--kvstore', 'dist_sync', '--out', str(tmp_path / 'run')]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    started = threading.Event()
    lines = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if 'training on' in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(120), ''.join(lines)
        workers = [pid for pid, env in _job_pids(marker) if b'DMLC_ROLE=worker' in env]
        assert len(workers) == 2
        os.kill(max(workers), signal.SIGKILL)
        t0 = time.monotonic()
        rc = proc.wait(timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    assert rc == 128 + signal.SIGKILL, ''.join(lines)
    assert 'exited with signal SIGKILL' in ''.join(lines)
    assert elapsed < 60
    time.sleep(0.5)
    assert _job_pids(marker) == []  # nothing left behind


def test_workers_failing_at_start_end_the_job():
    # bad training flags: both workers exit 2 before joining; the launcher must
    # not wait for them forever
    result = _run([PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--grace', '3', '--',
                   PY, '-m', 'vgg_gluon.train', '--epochs', '0', '--kvstore', 'dist_sync'],
                  timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert '--epochs' in result.stdout


class _TwoRanks:
    """Horovod's all-reduce for two workers, seen from ``rank``: the other
    worker contributes ``others[name]``."""

    def __init__(self, rank, others):
        self._rank, self.others = rank, others

    def rank(self):
        return self._rank

    def allreduce_(self, x, average, name):
        assert average is False
        x += self.others[name]


def test_horovod_broadcast_gives_every_worker_rank_0s_values():
    from vgg_gluon.distributed import horovod_broadcast
    nets = []
    for seed in (1, 2):      # two workers that drew different weights
        mx.random.seed(seed)
        net = mx.gluon.nn.Dense(3, in_units=4, prefix='fc_')  # same names on both
        net.initialize(mx.init.Xavier())
        nets.append(net.collect_params())
    rank0 = {k: p.data().copy() for k, p in nets[0].items()}
    rank1 = {k: p.data().copy() for k, p in nets[1].items()}
    assert not np.array_equal(rank0['fc_weight'].asnumpy(), rank1['fc_weight'].asnumpy())
    # rank 1 receives rank 0's values; rank 0 receives rank 1's zeros
    horovod_broadcast(_TwoRanks(1, {'vgg_gluon.init.' + k: v for k, v in rank0.items()}), nets[1])
    horovod_broadcast(_TwoRanks(0, {'vgg_gluon.init.' + k: mx.nd.zeros_like(v)
                                    for k, v in rank1.items()}), nets[0])
    for k in rank0:
        np.testing.assert_array_equal(nets[1][k].data().asnumpy(), rank0[k].asnumpy())
        np.testing.assert_array_equal(nets[0][k].data().asnumpy(), rank0[k].asnumpy())
