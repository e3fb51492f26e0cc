"""Data parallelism over processes and machines, with engines that already exist.

Two engines, chosen on the command line; neither is written here:

* MXNet's parameter server, ``--kvstore dist_sync|dist_device_sync|dist_async``:
  processes started by ``python -m vgg_gluon.launch`` (the ``DMLC_*``
  environment). Workers push gradients to the servers, which run the optimizer
  and send the weights back (Gluon's ``update_on_kvstore``).
* Horovod, ``--horovod`` under ``horovodrun``: gradients summed by all-reduce
  (Gloo or MPI), every worker runs the optimizer.

Either way worker ``r`` of ``W`` reads positions ``r::W`` of every global batch
(the same (seed, epoch) order as one process), steps with the global batch size,
and the epoch's metrics are summed over workers by the same engine, so W
workers compute what one process computes with the global batch.
"""
import functools
import os
import sys
import threading
import time

import numpy as np
import mxnet as mx

from . import optimizers
from ..errors import ConfigError, one_line
from .processes import ALIVE_EVERY, PROGRESS_ENV, PROGRESS_PREFIX
from ..runtime.mxnet_internals import kvstore_barrier, leave_without_exit_barrier

# The kvstore key of the metric sums; the Trainer's keys are the parameter
# indices 0, 1, ... MXNet's server picks a server as (key * 9973) % servers in a
# C int, so the key stays below 2**31 / 9973.
METRIC_KEY = 100000
METRIC_SLOTS = 4


def _is_metric(index):
    return index == METRIC_KEY or (isinstance(index, (list, tuple)) and METRIC_KEY in index)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class _AddsMetrics:
    """On the servers: add what workers push to METRIC_KEY instead of optimizing it.

    With ``update_on_kvstore`` the servers apply the optimizer to every key
    pushed, so summing metrics through the kvstore needs this one exception. The
    class is pickled to the servers (KVStore.set_optimizer), which import it
    from this module.
    """

    def create_state_multi_precision(self, index, weight):
        if _is_metric(index):
            return None
        return super().create_state_multi_precision(index, weight)

    def update_multi_precision(self, index, weight, grad, state):
        try:
            if _is_metric(index):
                for w, g in zip(_as_list(weight), _as_list(grad)):
                    w += g
                return
            super().update_multi_precision(index, weight, grad, state)
        except Exception as e:
            # MXNet calls this through a ctypes callback, which prints an
            # exception and carries on: the server would serve weights it never
            # updated and the workers would train on. End the server instead;
            # the launcher then stops the job and says a server died.
            sys.stderr.write(f"server: the optimizer's step for key {index} failed "
                             f"({type(e).__name__}: {one_line(e)}); ending this server\n")
            sys.stderr.flush()
            os._exit(70)  # sysexits.h EX_SOFTWARE


class SGD(_AddsMetrics, optimizers.SGD):
    """optimizers.SGD that sums the metric key (see _AddsMetrics)."""


class NAG(_AddsMetrics, optimizers.NAG):
    """optimizers.NAG that sums the metric key (see _AddsMetrics)."""


class Adam(_AddsMetrics, mx.optimizer.Adam):
    """mxnet.optimizer.Adam that sums the metric key (see _AddsMetrics)."""


OPTIMIZERS = {'sgd': SGD, 'nag': NAG, 'adam': Adam}


class KVStoreSum:
    """Sum a few numbers over all workers through the parameter server.

    Each worker pushes its numbers; the servers keep a running total (see
    _AddsMetrics), so the sum of this round is the total's increase. The
    barriers make it exact in ``dist_async`` too, where pushes are not rounds.
    """

    def __init__(self, kv):
        self.kv = kv
        self.total = mx.nd.zeros((METRIC_SLOTS,), dtype='float64')
        self.seen = np.zeros(METRIC_SLOTS)
        kv.init(METRIC_KEY, self.total)  # collective: every worker calls it once

    def __call__(self, values):
        """[float, ...] (at most METRIC_SLOTS) -> the same list summed over workers."""
        x = np.zeros(METRIC_SLOTS)
        x[:len(values)] = values
        self.kv.push(METRIC_KEY, mx.nd.array(x, dtype='float64'))
        mx.nd.waitall()        # our push has reached the servers
        kvstore_barrier(self.kv)  # ... and everyone's has
        self.kv.pull(METRIC_KEY, out=self.total)
        total = self.total.asnumpy()
        kvstore_barrier(self.kv)  # nobody pushes the next round before all have pulled
        delta, self.seen = total - self.seen, total
        return [float(v) for v in delta[:len(values)]]


class HorovodSum:
    """Sum a few numbers over all workers with Horovod's all-reduce."""

    def __init__(self, hvd):
        self.hvd = hvd

    def __call__(self, values):
        x = mx.nd.array(values, dtype='float64')
        total = self.hvd.allreduce(x, average=False, name='vgg_gluon.metrics')
        return [float(v) for v in total.asnumpy()]


def horovod_broadcast(hvd, params):
    """Give every worker rank 0's parameter values, in place, by an all-reduce.

    params: {name: Parameter}, one context per worker. Rank 0 contributes its
    values and the others zeros, so the sum is rank 0's values, bit for bit.
    Not ``hvd.broadcast_parameters``: Horovod 0.28.1's broadcast logs the
    tensor's name through a reference that the completion callback may already
    have freed. Seen here in the two-worker test: one worker spinning at 100 %
    CPU on that log line (gdb backtrace in EnqueueTensorBroadcast), its memory
    growing past 14 GB, the process hanging at exit. Horovod's all-reduce takes
    the name by value.
    """
    for name, param in sorted(params.items()):
        x = param.data()
        if hvd.rank() != 0:
            x[:] = 0
        hvd.allreduce_(x, average=False, name='vgg_gluon.init.' + name)
    mx.nd.waitall()


def give_kvstore_plain_arrays(params, ctx):
    """Give every parameter a fresh array in MXNet's plain layout, same values.

    Why: the parameter server's first step (the Trainer's ``broadcast``: rank 0
    pushes each weight, all workers meet at a barrier, then pull) reads the
    parameter's own array, and MXNet 1.9.1's push fails on an array in oneDNN's
    blocked layout ("We can't generate TBlob for MKLDNN data"). An inference-mode
    convolution (the shape pass in ``Workers.prepare``) queues an asynchronous
    reorder of its weight into that layout, and the first training-mode
    convolution queues one back, each as a separate engine operation; whether
    rank 0's push runs between them is a race. When it does, the engine records
    the push's failure only on arrays it writes (the push only reads), so rank 0
    reaches the barrier without having pushed, and another worker's pull finds
    the key empty: the server aborts with "init 0 first" (seen in every launch
    on a 2-core AVX-512 machine). When no pull comes first, the server takes
    rank 0's first gradient as the key's initial weight: wrong without a word.
    ``reset_ctx`` copies each parameter into a new array (plain layout; the
    copy waits for the pending reorder) that no convolution has reordered yet.

    params: ParameterDict, already initialised; ctx: the context(s) it lives on.
    """
    params.reset_ctx(ctx)


class ProgressReports:
    """This worker's progress lines for the launcher (see PROGRESS_ENV).

    Written straight to file descriptor 1 (ranks 1+ point ``sys.stdout`` at
    nowhere), one short line per write, which a pipe keeps whole.
    """

    def __init__(self):
        self.batches = 0
        threading.Thread(target=self._alive, name='vgg_gluon alive', daemon=True).start()

    def batch(self, stage, epoch, batch):
        """After each batch: stage 'training' (epoch E) or 'testing' (pass P)."""
        self.batches += 1
        word = 'epoch' if stage == 'training' else 'pass'
        self._write(f"{self.batches} {stage} {word} {epoch} batch {batch}")

    def _alive(self):
        while True:
            self._write('alive')
            time.sleep(ALIVE_EVERY)

    @staticmethod
    def _write(text):
        os.write(1, f"{PROGRESS_PREFIX}{text}\n".encode())


class Workers:
    """Where this process stands among the workers of one training run.

    rank, num_workers: 0 and 1 for a single process. allreduce: None for a
    single process, else a function summing a list of numbers over workers.
    """

    def __init__(self, kvstore='device', rank=0, num_workers=1, allreduce=None, hvd=None):
        self.kvstore, self.rank, self.num_workers = kvstore, rank, num_workers
        self.allreduce, self.hvd = allreduce, hvd

    @property
    def distributed(self):
        return self.num_workers > 1 or self.hvd is not None or not isinstance(self.kvstore, str)

    def describe(self):
        engine = 'horovod' if self.hvd is not None else getattr(self.kvstore, 'type', self.kvstore)
        return f"worker {self.rank} of {self.num_workers} ({engine})"

    def local_ctx(self, ctxs):
        """The devices of this process (a list): Horovod runs one process per GPU,
        GPU ``local_rank`` instead of GPU 0."""
        if self.hvd is None:
            return ctxs
        if len(ctxs) > 1:
            raise ConfigError("with --horovod each process uses one GPU "
                              "(its local rank): use auto or cpu", flag='gpus')
        return [mx.gpu(self.hvd.local_rank())] if ctxs[0].device_type == 'gpu' else ctxs

    def shard(self, train_iter, test_iter, batch_size):
        """Give this worker its part of every batch; refuse batches some worker would miss.

        Every worker must step on every batch (the servers wait for all), so each
        training batch needs at least one image per worker. Under the launcher
        (PROGRESS_ENV set) both iterators also report each batch to it.
        """
        if os.environ.get(PROGRESS_ENV):
            reports = ProgressReports()
            train_iter.on_batch = functools.partial(reports.batch, 'training')
            test_iter.on_batch = functools.partial(reports.batch, 'testing')
        if self.num_workers == 1:
            return
        n, w = train_iter.num_samples, self.num_workers
        if batch_size < w:
            raise ConfigError(f"must be at least the number of workers ({w}), "
                              f"got {batch_size}", flag='batch_size')
        if 0 < n % batch_size < w:
            raise ConfigError(f"the last batch would hold {n % batch_size} of "
                              f"{n} images, fewer than the {w} workers; choose a batch size "
                              f"that divides {n} or leaves at least {w}", flag='batch_size')
        train_iter.shard(self.rank, w)
        test_iter.shard(self.rank, w)

    def prepare(self, net, ctx, seed, image_shape):
        """Same starting weights everywhere, then a different dropout stream per worker.

        Gluon creates the weights at the first forward pass; one pass on zeros
        creates them now, from the same seed on every worker (the kvstore
        Trainer also broadcasts rank 0's at its first step; Horovod broadcasts
        here).
        """
        first = ctx[0] if isinstance(ctx, (list, tuple)) else ctx
        # Always, one process too: the weights are then drawn right after
        # seed_everything, not at the first batch, after the per-epoch reseed.
        net(mx.nd.zeros((1,) + tuple(image_shape), ctx=first))
        if not self.distributed:
            return
        if self.hvd is not None:
            horovod_broadcast(self.hvd, net.collect_params())
        else:
            give_kvstore_plain_arrays(net.collect_params(), ctx)
        mx.random.seed(seed + self.rank)

    def leave_early(self):
        """This worker stops before the others (a signal, an error): let it exit
        without waiting for them at the parameter server's exit barrier."""
        if self.hvd is None and not isinstance(self.kvstore, str):
            leave_without_exit_barrier(self.kvstore)

    def trainer(self, params, optimizer, lr, **optimizer_params):
        """The Gluon Trainer for this engine: plain, parameter server or Horovod.

        optimizer_params: more of the optimizer's arguments (momentum, wd).
        """
        from mxnet import gluon
        optimizer_params = dict(optimizer_params, learning_rate=lr)
        if self.hvd is not None:
            # Horovod divides the gradient scale by size() (it expects each worker
            # to step with its own batch); we step with the global batch like one
            # process, so multiply it back: rescale = 1 / global batch.
            # Horovod sorts what it is given: a dict (by name: every rank builds
            # the same network in a fresh process, so the names agree), not a list.
            params = {p.name: p for p in params} if isinstance(params, list) else params
            optimizer_params['rescale_grad'] = float(self.hvd.size())
            created = optimizers.create(optimizer, **optimizer_params)
            return self.hvd.DistributedTrainer(
                params, created, None if created is not optimizer else optimizer_params)
        if isinstance(self.kvstore, str):
            created = optimizers.create(optimizer, **optimizer_params)
            return gluon.Trainer(params, created, None if created is not optimizer
                                 else optimizer_params, kvstore=self.kvstore)
        # update_on_kvstore=True explicitly: KVStoreSum needs the servers' updater
        # (MXNET_UPDATE_ON_KVSTORE=0 would otherwise turn it off).
        created = OPTIMIZERS[optimizer](**optimizer_params)
        # The servers get the optimizer pickled, without its param_dict (MXNet drops
        # it), so the parameters' wd_mult (none on biases and BatchNorm) goes by index.
        created.set_wd_mult({i: p.wd_mult for i, p in enumerate(params) if p.wd_mult != 1})
        return gluon.Trainer(params, created,
                             kvstore=self.kvstore, update_on_kvstore=True)


def _import_horovod():
    try:
        import horovod.mxnet as hvd
    except ImportError as err:
        raise ConfigError(f"Horovod is not installed ({err}); install it with "
                          f"scripts/setup.sh horovod", flag='horovod') from None
    return hvd


# set by horovodrun in each process it starts (Gloo, then Open MPI, then MPICH/PMI)
HOROVODRUN_ENV = ('HOROVOD_RANK', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK')


def setup_workers(config):
    """Join the run ``config`` describes; a single process needs nothing.

    dist_* kvstores connect to the scheduler named by the DMLC_* environment
    (python -m vgg_gluon.launch sets it); --horovod joins horovodrun's job.
    A worker of the launcher must use a dist_* kvstore: with any other engine
    the workers would train unconnected copies, all writing one run directory.
    """
    if os.environ.get('DMLC_ROLE') == 'worker' and not config.kvstore.startswith('dist'):
        if config.horovod:
            raise ConfigError("start Horovod jobs with horovodrun, not with "
                              "python -m vgg_gluon.launch (that one is for --kvstore dist_*)",
                              flag='horovod')
        raise ConfigError(f"under python -m vgg_gluon.launch use dist_sync, dist_device_sync "
                          f"or dist_async; {config.kvstore} would train "
                          f"{os.environ.get('DMLC_NUM_WORKER', 'several')} unconnected copies",
                          flag='kvstore')
    if config.horovod:
        if not any(v in os.environ for v in HOROVODRUN_ENV):
            raise ConfigError("needs the processes started by horovodrun: python -m "
                              "vgg_gluon.horovodrun -np N python -m vgg_gluon.train --horovod ...",
                              flag='horovod')
        hvd = _import_horovod()
        hvd.init()
        return Workers('horovod', hvd.rank(), hvd.size(), HorovodSum(hvd), hvd=hvd)
    if not config.kvstore.startswith('dist'):
        return Workers(config.kvstore)
    missing = [v for v in ('DMLC_ROLE', 'DMLC_PS_ROOT_URI', 'DMLC_PS_ROOT_PORT',
                           'DMLC_NUM_SERVER', 'DMLC_NUM_WORKER') if not os.environ.get(v)]
    if missing:
        raise ConfigError(f"{config.kvstore} needs the processes started by "
                          f"python -m vgg_gluon.launch -n WORKERS -s SERVERS -- ... "
                          f"({', '.join(missing)} not set)", flag='kvstore')
    kv = mx.kv.create(config.kvstore)
    return Workers(kv, kv.rank, kv.num_workers, KVStoreSum(kv))
