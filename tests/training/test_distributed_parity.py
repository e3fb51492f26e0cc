"""Data-parallel training on loopback: the parameter server (via the launcher) and Horovod.

The equality tests train a small VGG (ratio 8, 32 px, dropout off) on a real
Fashion-MNIST slice once in one process and once with 2 workers, and compare
the final parameters and the reduced metrics. Every launch must start: no
test here starts a job again when it fails. The launcher's flags and watch
are tests/training/test_launcher.py's; faults, test_distributed_faults.py's.
"""
import importlib.util
import os
import re

import numpy as np
import pytest
import mxnet as mx

from launch_helpers import (DEFAULTS, DEFAULTS_2_EPOCHS, PY, TINY, TINY_SGD, TRAIN,
                            assert_same_training, one_process_run, read_params, run_job)
from run_helpers import metrics
from vgg_gluon import train
from vgg_gluon.config import ConfigError
from vgg_gluon.data.fashion_mnist import BatchIter
from vgg_gluon.training.distributed import Workers

LAUNCH = [PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--timeout', '240', '--']


@pytest.fixture(scope='module')
def single(tmp_path_factory):
    """One process, global batch 64: the reference run directory."""
    return one_process_run(tmp_path_factory, 'single', TRAIN)


@pytest.fixture(scope='module')
def single_sgd(tmp_path_factory):
    """One process with the train command's defaults (dropout off: workers draw their own masks)."""
    return one_process_run(tmp_path_factory, 'single-sgd', DEFAULTS_2_EPOCHS)


@pytest.fixture(scope='module')
def single_tiny(tmp_path_factory):
    return one_process_run(tmp_path_factory, 'single-tiny', TINY_SGD)


@pytest.fixture(scope='module')
def single_tiny_jitter(tmp_path_factory):
    return one_process_run(tmp_path_factory, 'single-tiny-jitter',
                           TINY_SGD + ['--scale-jitter', '32,40'])


@pytest.fixture(scope='module')
def single_without_onednn(tmp_path_factory):
    """The reference run with oneDNN off, as Horovod needs it on the CPU: its
    plain convolution kernels round differently, and Adam turns the tiny
    differences of near-zero gradients into steps of about lr."""
    return one_process_run(tmp_path_factory, 'single-plain', TRAIN, MXNET_MKLDNN_ENABLED='0')


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


# ---- loopback runs -------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize('servers', ['1', '2'])
def test_dist_sync_two_workers_match_one_process(single, servers, tmp_path):
    # Adam, hybridized; on two servers VGG's big dense weights are split over both
    out = str(tmp_path / 'dist')
    result = run_job([PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', servers, '--timeout', '240',
                      '--', PY, *TRAIN, '--kvstore', 'dist_sync', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_training(single, out)
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
    result = run_job(LAUNCH + [PY, *train_args, '--kvstore', 'dist_sync', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    return result, out


# The training toolkit on: the servers run NAG with the schedule and the per-index
# weight decay (MXNet pickles the optimizer without the parameters' wd_mult), and the
# augmentation is drawn per global batch before sharding. No batch norm: it would
# normalise over each worker's half batch.
TOOLKIT = [a for a in TRAIN if a not in ('adam', '0.001', '--optimizer', '--lr')] + [
    '--optimizer', 'nag', '--momentum', '0.9', '--lr', '0.05', '--wd', '5e-3',
    '--lr-schedule', 'cosine', '--label-smoothing', '0.1', '--augment', 'crop,flip,erase']


@pytest.mark.slow
def test_dist_sync_with_the_toolkit_matches_one_process(tmp_path):
    single = str(tmp_path / 'single')
    result = run_job([PY, *TOOLKIT, '--out', single])
    assert result.returncode == 0, result.stderr
    _, out = _dist_sync(TOOLKIT, tmp_path)
    reference, params = read_params(single), read_params(out)
    assert params.keys() == reference.keys()
    for name in reference:  # no Adam here: every weight agrees to float rounding
        np.testing.assert_allclose(params[name], reference[name], rtol=0, atol=1e-5,
                                   err_msg=name)
        assert np.abs(params[name]).max() > 0, name        # biases too are trained
    (expected,), (got,) = metrics(single), metrics(out)
    for key in ('loss', 'train_acc', 'test_acc', 'lr'):  # reduced over both workers
        assert got[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-5), key


@pytest.mark.slow
def test_default_flags_on_two_servers_match_one_process(single_sgd, tmp_path):
    # SGD, batch 128, hybridized; VGG-11's big dense weights are split over both servers
    out = str(tmp_path / 'dist')
    result = run_job([PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '2', '--timeout', '240', '--',
                      PY, *DEFAULTS_2_EPOCHS, '--kvstore', 'dist_sync', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_training(single_sgd, out, learned=False)


@pytest.mark.slow
def test_launches_start_every_time(tmp_path):
    """Several launches in a row with the train command's defaults, none started
    again. Each used to abort with "init 0 first" here (distributed.py,
    give_kvstore_plain_arrays)."""
    for i in range(3):
        out = str(tmp_path / f'run{i}')
        result = run_job(LAUNCH + [PY, *DEFAULTS, '--kvstore', 'dist_sync', '--out', out])
        assert result.returncode == 0, f"launch {i + 1}: " + result.stdout + result.stderr
        assert len(metrics(out)) == 1


@pytest.mark.slow
def test_dist_device_sync_with_cpu_contexts_matches_one_process(single_tiny, tmp_path):
    out = str(tmp_path / 'dist')
    result = run_job(LAUNCH + [PY, *TINY_SGD, '--gpus', 'cpu', '--kvstore', 'dist_device_sync',
                               '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_training(single_tiny, out)


@pytest.mark.slow
def test_dist_async_learns(tmp_path):
    # not bit-equal to one process (workers do not wait for each other): it must learn
    out = str(tmp_path / 'dist')
    result = run_job(LAUNCH + [PY, *TINY, '--kvstore', 'dist_async', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    history = metrics(out)
    assert len(history) == 2
    assert history[-1]['loss'] < 1.5 < 2.3   # chance: ln 10 = 2.30
    assert history[-1]['test_acc'] > 0.4     # chance: 0.1


# The package's default network (VGG-11/4, dropout 0.5) with Adam at 32 px on a slice
ASYNC_DEFAULT = ['-m', 'vgg_gluon.train', '--resize', '32', '--epochs', '2', '--train-samples',
                 '3000', '--test-samples', '1000', '--optimizer', 'adam', '--lr', '0.001',
                 '--seed', '5', '--quiet']


@pytest.mark.slow
def test_dist_async_against_one_process_on_the_default_network(tmp_path):
    """The known gap, held to: both jobs run, the launcher says why dist_async lags, one
    process learns, and dist_async stays behind (xfail). The day it learns like one process
    this fails, and the note (vgg_gluon.launch.ASYNC_NOTE) and docs/machines.md go."""
    single = str(tmp_path / 'single')
    result = run_job([PY, *ASYNC_DEFAULT, '--out', single])
    assert result.returncode == 0, result.stderr
    out = str(tmp_path / 'dist')
    result = run_job(LAUNCH + [PY, *ASYNC_DEFAULT, '--kvstore', 'dist_async', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count('note: with dist_async') == 1
    expected, got = metrics(single)[-1]['test_acc'], metrics(out)[-1]['test_acc']
    assert expected > 0.4                 # one process learns (chance: 0.1)
    if got <= expected - 0.05:
        pytest.xfail(f"dist_async {got:.3f} against one process's {expected:.3f}: each push is "
                     "its own Adam step with a stale gradient (MXNet's "
                     "KVStoreDistServer::DataHandleDefault, async branch)")
    pytest.fail(f"dist_async learns like one process now ({got:.3f} against {expected:.3f}): "
                "drop launch's ASYNC_NOTE and the known limit in docs/machines.md")


@pytest.mark.slow
def test_scale_jitter_workers_match_one_process(single_tiny_jitter, tmp_path):
    out = str(tmp_path / 'dist')
    result = run_job(LAUNCH + [PY, *TINY_SGD, '--scale-jitter', '32,40', '--kvstore', 'dist_sync',
                               '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_training(single_tiny_jitter, out)


def _horovodrun():
    """The horovodrun command (vgg_gluon's, which also works on Python 3.12+), or None."""
    # Looked up, not imported: importing horovod.mxnet exposes libmxnet's own
    # libjpeg to the whole process, and Pillow's JPEG codec then fails in
    # every later test ("broken data stream when writing image file").
    if importlib.util.find_spec('horovod') is None or not os.path.exists(os.path.join(
            os.path.dirname(importlib.util.find_spec('horovod').origin), 'mxnet')):
        return None
    return [PY, '-m', 'vgg_gluon.horovodrun']


@pytest.mark.slow
@pytest.mark.skipif(_horovodrun() is None,
                    reason='Horovod is an optional extra (scripts/setup.sh horovod); not installed')
def test_horovod_two_processes_match_one_process(single_without_onednn, tmp_path):
    out = str(tmp_path / 'hvd')
    # MXNET_MKLDNN_ENABLED=0: Horovod cannot all-reduce MXNet's oneDNN-layout
    # arrays on CPU ("We can't generate TBlob for MKLDNN data")
    result = run_job(['env', 'MXNET_MKLDNN_ENABLED=0', *_horovodrun(), '-np', '2', '-H',
                      'localhost:2', '--gloo', '--network-interface', 'lo', PY, *TRAIN,
                      '--horovod', '--out', out])
    assert result.returncode == 0, result.stdout + result.stderr
    assert_same_training(single_without_onednn, out)


# ---- Horovod's start, without Horovod -------------------------------------------

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
