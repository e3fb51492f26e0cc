"""Data-parallel training on loopback: the parameter server (via the launcher) and Horovod.

The equality tests train a small VGG (ratio 8, 32 px, dropout off) on a real
Fashion-MNIST slice once in one process and once with 2 workers, and compare
the final parameters and the reduced metrics. Every launch must start: no
test here starts a job again when it fails.
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
import time
import uuid

import numpy as np
import pytest
import mxnet as mx

from vgg_gluon import launch, train
from vgg_gluon.training import processes as launcher
from vgg_gluon.config import ConfigError
from vgg_gluon.data.fashion_mnist import BatchIter
from vgg_gluon.training.distributed import Workers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def _reference(tmp_path_factory, name, argv, **env):
    """A one-process run directory to compare the workers' with."""
    out = str(tmp_path_factory.mktemp('dist') / name)
    result = _run([PY, *argv, '--out', out], **env)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope='module')
def single(tmp_path_factory):
    """One process, global batch 64: the reference run directory."""
    return _reference(tmp_path_factory, 'single', TRAIN)


@pytest.fixture(scope='module')
def single_sgd(tmp_path_factory):
    """One process with the train command's defaults (dropout off: workers draw their own masks)."""
    return _reference(tmp_path_factory, 'single-sgd', DEFAULTS_2_EPOCHS)


@pytest.fixture(scope='module')
def single_tiny(tmp_path_factory):
    return _reference(tmp_path_factory, 'single-tiny', TINY_SGD)


@pytest.fixture(scope='module')
def single_tiny_jitter(tmp_path_factory):
    return _reference(tmp_path_factory, 'single-tiny-jitter',
                      TINY_SGD + ['--scale-jitter', '32,40'])


@pytest.fixture(scope='module')
def single_without_onednn(tmp_path_factory):
    """The reference run with oneDNN off, as Horovod needs it on the CPU: its
    plain convolution kernels round differently, and Adam turns the tiny
    differences of near-zero gradients into steps of about lr."""
    return _reference(tmp_path_factory, 'single-plain', TRAIN, MXNET_MKLDNN_ENABLED='0')


def _assert_same_training(single, run_dir, learned=True):
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
    expected, got = _metrics(single), _metrics(run_dir)
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        for key in ('loss', 'train_acc', 'test_acc'):  # reduced over both workers
            assert have[key] == pytest.approx(want[key], rel=1e-3, abs=1e-5), key
    if learned:
        assert expected[-1]['test_acc'] > 0.2  # it learned (chance is 0.1)


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


@pytest.mark.parametrize('argv, flag', [
    ([], '--kvstore'),                       # the default, device
    (['--kvstore', 'local'], '--kvstore'),
    (['--horovod'], '--horovod'),
])
def test_a_launcher_worker_refuses_engines_that_cannot_work(argv, flag, capsys, tmp_path,
                                                            monkeypatch):
    # under the launcher, local or device would train unconnected copies that
    # all write one run directory
    monkeypatch.setenv('DMLC_ROLE', 'worker')
    monkeypatch.setenv('DMLC_NUM_WORKER', '2')
    out = tmp_path / 'run'
    assert train.main(argv + ['--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and flag in err, err
    assert 'launch' in err and not out.exists()


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---- the launcher: flags, plan, ssh command -----------------------------------

@pytest.mark.parametrize('argv, words', [
    (['-n', '2', '-s', '1'], 'give the command'),
    (['-n', '0', '-s', '1', '--', 'python'], '-n'),
    (['-n', '2', '--', 'python'], '-s'),
    (['-n', '2', '-s', '1', '--port', '70000', '--', 'python'], '--port'),
    (['-n', '2', '-s', '1', '--'], 'give the command'),
    (['-n', '2', '-s', '1', '--epoch', '3', 'train'], '--epoch'),   # no abbreviations
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
    nodes = launcher.plan(3, 2, 9999)
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
    hosts = launcher.read_hostfile(str(hostfile))
    nodes = launcher.plan(2, 1, 9091, hosts)
    assert [n.label for n in nodes] == ['scheduler@node-a', 'server 0@node-a',
                                        'worker 0@node-a', 'worker 1@node-b']
    worker = nodes[-1]
    cmd = launcher.ssh_command(worker.host, worker.env, ['python', '-m', 'vgg_gluon.train',
                                                       '--out', 'runs/a b'], '/srv/my dir')
    assert cmd[:5] == ['ssh', '-tt', '-o', 'BatchMode=yes', 'node-b']
    remote = shlex.split(cmd[5])
    assert remote[:5] == ['cd', '/srv/my dir', '&&', 'exec', 'env']
    assert remote[-5:] == ['python', '-m', 'vgg_gluon.train', '--out', 'runs/a b']
    env = dict(a.split('=', 1) for a in remote[5:-5])
    assert env['DMLC_ROLE'] == 'worker' and env['DMLC_NODE_HOST'] == 'node-b'
    assert env['DMLC_PS_ROOT_URI'] == 'node-a' and env['DMLC_PS_ROOT_PORT'] == '9091'
    assert env['DMLC_NUM_WORKER'] == '2' and env['DMLC_NUM_SERVER'] == '1'


def test_launch_help_explains_how_a_job_ends(capsys):
    with pytest.raises(SystemExit) as exit_info:
        launch.main(['--help'])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for words in ('--stall-timeout', '--grace', 'SIGKILL', 'one line', '124'):
        assert words in text, words


def test_only_workers_report_progress_and_ssh_takes_a_config():
    from vgg_gluon.training.distributed import PROGRESS_ENV
    nodes = launcher.plan(2, 1, 9091, ['node-a', 'node-b'])
    assert [PROGRESS_ENV in n.env for n in nodes] == [False, False, True, True]
    cmd = launcher.ssh_command('node-b', nodes[-1].env, ['python'], '/srv', config='/tmp/ssh.cfg')
    assert cmd[:6] == ['ssh', '-tt', '-F', '/tmp/ssh.cfg', '-o', 'BatchMode=yes']


def test_readme_launch_example_parses():
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    section = text.split('## Several GPUs and several machines')[1].split('\n## ')[0]
    lines = [line for line in section.splitlines() if line.startswith('python -m vgg_gluon.launch')]
    assert lines, 'README shows no launcher example'
    argv = shlex.split(lines[0])[3:]
    args, command = launch.parse_args(argv)
    assert command[:3] == [sys.executable, '-m', 'vgg_gluon.train']
    config = train.parse_config(command[3:])
    assert config.kvstore.startswith('dist')


@pytest.mark.parametrize('given, run', [
    (['train', '--lr', '0.1'], [sys.executable, '-m', 'vgg_gluon.train', '--lr', '0.1']),
    (['--', 'train', '--lr', '0.1'], [sys.executable, '-m', 'vgg_gluon.train', '--lr', '0.1']),
    (['--', 'python', '-m', 'vgg_gluon.train'], [sys.executable, '-m', 'vgg_gluon.train']),
    (['--', '/usr/bin/python3.11', 'x.py'], [sys.executable, 'x.py']),
    (['python3', 'x.py'], [sys.executable, 'x.py']),
    (['--', 'env', 'python', 'x.py'], ['env', 'python', 'x.py']),      # not ours to rewrite
    (['--', 'pythonista'], ['pythonista']),
])
def test_launch_runs_this_projects_interpreter_whatever_path_says(given, run):
    """A worker started from a shell whose PATH finds another python would die
    with ModuleNotFoundError: the launcher's own interpreter runs it instead."""
    args, command = launch.parse_args(['-n', '2', '-s', '1', '--port', '9000'] + given)
    assert command == run and args.port == 9000


# ---- loopback runs -------------------------------------------------------------

@pytest.mark.parametrize('servers', ['1', '2'])
def test_dist_sync_two_workers_match_one_process(single, servers, tmp_path):
    # Adam, hybridized; on two servers VGG's big dense weights are split over both
    out = str(tmp_path / 'dist')
    result = _run([PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', servers, '--timeout', '240',
                   '--', PY, *TRAIN, '--kvstore', 'dist_sync', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_same_training(single, out)
    # only rank 0 prints the book's lines
    assert re.search(r'^\[worker 0\] epoch 1, loss', result.stdout, re.M), result.stdout
    assert '[worker 1] epoch' not in result.stdout
    # the servers kept the optimizer state: a stop's hint does not offer --resume, which refuses
    hint = train.go_on(out)
    assert 'cannot be resumed' in hint and '--resume' not in hint
    assert '--resume' in train.go_on(single)


def _dist_sync(train_args, tmp_path):
    """(result, run directory) of a two-worker dist_sync job on one server."""
    out = str(tmp_path / 'dist')
    result = _run(LAUNCH + [PY, *train_args, '--kvstore', 'dist_sync', '--out', out])
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


def test_default_flags_on_two_servers_match_one_process(single_sgd, tmp_path):
    # SGD, batch 128, hybridized; VGG-11's big dense weights are split over both servers
    out = str(tmp_path / 'dist')
    result = _run([PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '2', '--timeout', '240', '--',
                   PY, *DEFAULTS_2_EPOCHS, '--kvstore', 'dist_sync', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_same_training(single_sgd, out, learned=False)


def test_launches_start_every_time(tmp_path):
    """Several launches in a row with the train command's defaults, none started
    again. Each used to abort with "init 0 first" here (distributed.py,
    give_kvstore_plain_arrays)."""
    for i in range(3):
        out = str(tmp_path / f'run{i}')
        result = _run(LAUNCH + [PY, *DEFAULTS, '--kvstore', 'dist_sync', '--out', out])
        assert result.returncode == 0, f"launch {i + 1}: " + result.stdout + result.stderr
        assert len(_metrics(out)) == 1


def test_dist_device_sync_with_cpu_contexts_matches_one_process(single_tiny, tmp_path):
    out = str(tmp_path / 'dist')
    result = _run(LAUNCH + [PY, *TINY_SGD, '--gpus', 'cpu', '--kvstore', 'dist_device_sync',
                            '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_same_training(single_tiny, out)


def test_dist_async_learns(tmp_path):
    # not bit-equal to one process (workers do not wait for each other): it must learn
    out = str(tmp_path / 'dist')
    result = _run(LAUNCH + [PY, *TINY, '--kvstore', 'dist_async', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    history = _metrics(out)
    assert len(history) == 2
    assert history[-1]['loss'] < 1.5 < 2.3   # chance: ln 10 = 2.30
    assert history[-1]['test_acc'] > 0.4     # chance: 0.1


def test_scale_jitter_workers_match_one_process(single_tiny_jitter, tmp_path):
    out = str(tmp_path / 'dist')
    result = _run(LAUNCH + [PY, *TINY_SGD, '--scale-jitter', '32,40', '--kvstore', 'dist_sync',
                            '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_same_training(single_tiny_jitter, out)


def _horovodrun():
    """The horovodrun command (vgg_gluon's, which also works on Python 3.12+), or None."""
    # Looked up, not imported: importing horovod.mxnet exposes libmxnet's own
    # libjpeg to the whole process, and Pillow's JPEG codec then fails in
    # every later test ("broken data stream when writing image file").
    if importlib.util.find_spec('horovod') is None or not os.path.exists(os.path.join(
            os.path.dirname(importlib.util.find_spec('horovod').origin), 'mxnet')):
        return None
    return [PY, '-m', 'vgg_gluon.horovodrun']


@pytest.mark.skipif(_horovodrun() is None,
                    reason='Horovod is an optional extra (scripts/setup.sh horovod); not installed')
def test_horovod_two_processes_match_one_process(single_without_onednn, tmp_path):
    out = str(tmp_path / 'hvd')
    # MXNET_MKLDNN_ENABLED=0: Horovod cannot all-reduce MXNet's oneDNN-layout
    # arrays on CPU ("We can't generate TBlob for MKLDNN data")
    result = _run(['env', 'MXNET_MKLDNN_ENABLED=0', *_horovodrun(), '-np', '2', '-H', 'localhost:2', '--gloo',
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


def _start_job(cmd, tmp_path):
    """Start a launcher job with a marker in its environment; output to files."""
    marker = uuid.uuid4().hex
    out, err = open(tmp_path / 'out.txt', 'w+'), open(tmp_path / 'err.txt', 'w+')
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(_env(), VGG_GLUON_TEST_JOB=marker),
                            stdout=out, stderr=err, text=True)
    return proc, marker, out, err


def _wait_for(path, text, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if text in path.read_text():
            return True
        time.sleep(0.2)
    return False


def _end_of(proc, marker, out, err, seconds):
    """Wait for the launcher at most ``seconds`` (a hang guard, not a timing
    measurement); returns (status, stdout, stderr, processes left)."""
    try:
        rc = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        rc = None
    time.sleep(0.5)   # let the last processes be reaped
    left = _job_pids(marker)
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    if rc is None:
        proc.kill()
        proc.wait()
    out.seek(0)
    err.seek(0)
    return rc, out.read(), err.read(), left


@pytest.mark.parametrize('role, signum, status, line', [
    ('worker', signal.SIGKILL, 137, r'worker \d exited with signal SIGKILL'),
    ('server', signal.SIGKILL, 137, r'server 0 exited with signal SIGKILL'),
    ('scheduler', signal.SIGKILL, 137, r'scheduler exited with signal SIGKILL'),
    ('worker', signal.SIGTERM, 143, r'worker \d exited with status 143 \(128 \+ SIGTERM'),
    # a worker that stops responding: no progress report for --stall-timeout
    ('worker', signal.SIGSTOP, 124, r'worker \d is stopped \(process state T\); the '
                                    r'workers made no progress for 20 s'),
])
def test_a_fault_ends_the_whole_job(role, signum, status, line, tmp_path):
    """Any process of the job killed, or a worker hung, while training: the whole
    job ends with a non-zero status, one launcher line names the process and
    what happened, and no process of the job is left."""
    cmd = [PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--grace', '3',
           '--stall-timeout', '20', '--', PY, *TINY, '--epochs', '1000', '--kvstore', 'dist_sync',
           '--out', str(tmp_path / 'run')]
    proc, marker, out, err = _start_job(cmd, tmp_path)
    started = _wait_for(tmp_path / 'out.txt', 'training on', proc)
    time.sleep(1)  # in the middle of an epoch
    victims = sorted(pid for pid, env in _job_pids(marker)
                     if f'DMLC_ROLE={role}'.encode() in env)
    if started and victims:
        os.kill(victims[-1], signum)
    rc, stdout, stderr, left = _end_of(proc, marker, out, err, 120)
    assert started and victims, stdout + stderr
    assert rc == status, stdout + stderr
    lines = stderr.strip().splitlines()   # the launcher's own lines
    assert len(lines) == 1 and re.search(line, lines[0]), stderr
    assert 'stopped the job' in lines[0] and 'would not stop' not in lines[0]
    assert left == [], f"{len(left)} processes of the job left running"


FAKE = """
import os, sys, time
role, mode, token = os.environ['DMLC_ROLE'], sys.argv[1], sys.argv[2]
if role != 'worker':
    time.sleep(1 if (mode, role) == ('server exits', 'server') else 600)
    sys.exit(0)
try:       # the first worker to get here plays the silent one
    os.close(os.open(token, os.O_CREAT | os.O_EXCL))
    silent = mode == 'silent'
except FileExistsError:
    silent = False
print('silent' if silent else 'busy', flush=True)
for batch in range(1, 100000):
    if not silent or batch < 3:
        os.write(1, f"{PREFIX}{batch} training epoch 1 batch {batch}\\n".encode())
    time.sleep(0.2)
"""


@pytest.mark.parametrize('mode, status, line', [
    ('silent', 124, r'worker (\d) made no progress for \d+ s \(--stall-timeout 2; it is at: '
                    r'training epoch 1 batch 2; the others got further\)'),
    ('server exits', 1, r'server 0 exited with status 0 while workers were running'),
])
def test_launcher_ends_a_stuck_job(mode, status, line, tmp_path):
    """Stand-in processes (no MXNet): a worker that goes silent while the other
    reports progress, or a server that ends while the workers run."""
    from vgg_gluon.training.distributed import PROGRESS_PREFIX
    script = tmp_path / 'fake.py'
    script.write_text(FAKE.replace('{PREFIX}', PROGRESS_PREFIX))
    cmd = [PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--grace', '2',
           '--stall-timeout', '2', '--', PY, str(script), mode, str(tmp_path / 'token')]
    proc, marker, out, err = _start_job(cmd, tmp_path)
    rc, stdout, stderr, left = _end_of(proc, marker, out, err, 60)
    assert rc == status, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(line, lines[0]), stderr
    if mode == 'silent':  # the launcher names the silent worker, and hides progress lines
        silent = re.search(line, lines[0]).group(1)
        assert f'[worker {silent}] silent' in stdout, stdout
    assert PROGRESS_PREFIX not in stdout
    assert left == []


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
    from vgg_gluon.training.distributed import horovod_broadcast
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
