"""Training as a ``Config`` says: data, model and trainer built, the loop run,
a checkpoint after every epoch. No command line here: ``train.py`` is that.

    from vgg_gluon.config import Config
    from vgg_gluon.training import run
    history, run_dir = run(Config(epochs=1, train_samples=1024, resize=32))

Nothing is written before the inputs (and a resumed checkpoint) have been
checked, and an existing run directory is never overwritten.
"""
import contextlib
import json
import os
import time

from . import schedules
from ..runtime.atomic import atomic_write_text
from ..checkpoint.writer import CheckpointWriter, restore
from ..runtime.devices import check_amp, select_ctx
from .distributed import Workers, setup_workers
from ..config import Config
from ..errors import (ConfigError, Interrupted, MXNetFailed, RunDirBusy, SaveFailed,
                      TrainingDiverged, one_line)
from ..runtime.lock import LOCK_NAME, writer_lock
from ..runtime.signals import deferred, raise_pending
from .loop import TrainOptions, train_ch5
from .progress import ProgressBar, progress_bar  # noqa: F401  (training.ProgressBar)
from ..models.vgg import build_net
from ..runtime.seeding import seed_epoch, seed_everything


def build_model(config, ctxs, workers=None):
    """(net, trainer) as ``run`` trains them: initialised on the devices ``ctxs``
    (a list), hybridized, with AMP when ``config.amp``.

    workers (distributed.Workers) picks the kvstore: by default 'device',
    which on several GPUs keeps one copy of the parameters each and sums the
    gradients on the GPUs, not the CPU. Call right after ``seed_everything``:
    the weights are drawn here.
    """
    from mxnet import init
    workers = workers or Workers()
    check_amp(config.amp, ctxs)
    if config.amp:
        from mxnet.contrib import amp
        amp.init()  # before the network is built: it patches the operators to float16
    net = build_net(config)
    net.initialize(init.Xavier(), ctx=ctxs)
    if config.hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    workers.prepare(net, ctxs, config.seed, (1, config.resize, config.resize))
    # A list, not the dict: Trainer sorts a dict by parameter name, and names
    # carry process-wide counters (dense10 < dense9), so the optimizer states'
    # order would depend on what the process built before. The network's own
    # order is the same in every process, which a resumed checkpoint needs.
    params = list(net.collect_params().values())
    no_decay(params, config)
    trainer = workers.trainer(params, config.optimizer, config.lr, **optimizer_params(config))
    if config.amp:
        amp.init_trainer(trainer)  # dynamic loss scaling; train_ch5 sees it and scales
    return net, trainer


def optimizer_params(config):
    """The optimizer's arguments beyond the rate: only those set, so that the
    book's recipe builds exactly the optimizer it always built."""
    params = {}
    if config.momentum:
        params['momentum'] = config.momentum
    if config.wd:
        params['wd'] = config.wd
    return params


def no_decay(params, config):
    """No weight decay on biases and BatchNorm's gamma and beta (unless --wd-all).

    GluonCV's --no-wd: decaying them pulls the layers' scale and offset toward
    zero, which regularises nothing (Goyal et al. 2017, He et al. 2019).
    """
    if config.wd and not config.wd_all:
        for param in params:
            if param.name.endswith(('bias', 'gamma', 'beta')):
                param.wd_mult = 0.0


def make_loss(config):
    """The loss block: the book's cross-entropy, or against smoothed labels."""
    from mxnet import gluon
    from ..data.fashion_mnist import NUM_CLASSES
    from .loop import SmoothedCrossEntropy
    if config.label_smoothing:
        return SmoothedCrossEntropy(config.label_smoothing, NUM_CLASSES)
    return gluon.loss.SoftmaxCrossEntropyLoss()


def load_data(config):
    """(train_iter, test_iter) at the config's size, scale-jittered or augmented if asked."""
    from ..data.augment import make_augment
    from ..data.fashion_mnist import load_data_fashion_mnist
    from ..data.scale_jitter import load_data_jittered
    if config.scale_jitter:
        return load_data_jittered(
            config.batch_size, config.resize, *config.scale_jitter, root=config.data_dir,
            train_samples=config.train_samples, test_samples=config.test_samples,
            seed=config.seed, augment=make_augment(config.augment))
    return load_data_fashion_mnist(
        config.batch_size, resize=config.resize, root=config.data_dir,
        train_samples=config.train_samples, test_samples=config.test_samples, seed=config.seed,
        augment=make_augment(config.augment))


def toolkit_summary(config):
    """', momentum 0.9, wd 0.0005, cosine schedule, ...' for the settings away
    from the book's; '' for the book's recipe."""
    defaults, parts = Config(), []
    for field, text in (('momentum', 'momentum {}'), ('wd', 'wd {}'),
                        ('lr_schedule', '{} schedule'), ('warmup_epochs', 'warm-up {} epochs'),
                        ('label_smoothing', 'label smoothing {}'), ('augment', 'augment {}')):
        value = getattr(config, field)
        if value != getattr(defaults, field):
            parts.append(text.format(value))
    return ''.join(', ' + p for p in parts)


def check_run_dir(out):
    """The run directory to write; an existing non-empty one is refused."""
    out = out or os.path.join('runs', time.strftime('%Y%m%d-%H%M%S'))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ConfigError(f"{out} already exists and is not empty; choose a new run "
                          f"directory (nothing was overwritten)", flag='out')
    return out


class _Run:
    """One training run being set up: where it writes, what it says."""

    def __init__(self, config, resume, workers, say):
        self.config, self.resume, self.workers = config, resume, workers
        # The one condition for output: only rank 0 prints, writes logs, metrics and checkpoints.
        self.writes = workers.rank == 0
        if resume:
            self.out = resume.run_dir
        else:
            self.out = check_run_dir(config.out) if self.writes else config.out
        self.say = say if say is not None and self.writes and not config.quiet else _silent

    def lock(self, held):
        """Create a new run directory exclusively (or take the resumed one) and
        hold its lock in ``held`` (an ExitStack): one writer per run directory."""
        try:
            if not self.resume:
                parent = os.path.dirname(os.path.abspath(self.out))
                if not os.path.exists(parent):
                    os.makedirs(parent)
                with contextlib.suppress(FileExistsError):   # empty: check_run_dir saw it
                    os.mkdir(self.out)
            held.enter_context(writer_lock(self.out))
        except RunDirBusy as err:
            raise RunDirBusy(str(err), flag='resume' if self.resume else 'out') from None
        except OSError as err:
            raise self._cannot_write(err) from None
        if not self.resume and set(os.listdir(self.out)) - {LOCK_NAME}:
            # another train got there between check_run_dir and the lock
            raise ConfigError(f"{self.out} already exists and is not empty; choose a new run "
                              f"directory (nothing was overwritten)", flag='out')

    def _cannot_write(self, err):
        """SaveFailed for an OSError before the first epoch: nothing is saved yet."""
        failed = SaveFailed(f"cannot write into {self.out}: {err.strerror}" if self.resume
                            else f"cannot create the run directory {self.out}: {err.strerror}")
        failed.run_dir, failed.epochs_done = self.out, 0
        return failed

    def start(self, net, trainer, ctxs):
        """Restore a resumed checkpoint or create the run directory; the writer."""
        config, resume = self.config, self.resume
        history, resumes = [], []
        if resume and resume.manifest:
            restore(self.out, resume.manifest, net, trainer, config, ctxs)
            history, resumes = resume.manifest['metrics'], resume.manifest['resumes']
        if resume:
            resumes = resumes + [{'at_epoch': resume.epochs_done, 'changes': resume.changes}]
        elif self.writes:
            self._create(config)
        best = resume.manifest.get('best') if resume and resume.manifest else None
        writer = (CheckpointWriter(self.out, config, history, resumes, best=best)
                  if self.writes else None)
        if writer is not None:
            try:
                writer.probe()   # a read-only directory fails now, not after an epoch
            except SaveFailed as err:
                err.run_dir, err.epochs_done = self.out, writer.epoch
                raise
        return writer, history

    def _create(self, config):
        """The new run directory and its config.json; SaveFailed if it cannot be written."""
        try:
            os.makedirs(self.out, exist_ok=True)
            config.out = self.out
            atomic_write_text(os.path.join(self.out, 'config.json'),
                              json.dumps(config.to_dict(), indent=2))
        except OSError as err:
            raise self._cannot_write(err) from None

    def announce(self, train_iter, test_iter, epochs_done):
        c = self.config
        self.say(f"{c.arch}/{c.ratio}, resize {c.resize}: {c.epochs} epochs, {c.optimizer} "
                 f"lr {c.lr:g}{toolkit_summary(c)}, batch {c.batch_size}, seed {c.seed}; "
                 f"{train_iter.num_samples} "
                 f"train / {test_iter.num_samples} test images; "
                 f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; run directory "
                 f"{self.out}" + (f"; {self.workers.describe()}" if self.workers.distributed
                                  else ''))
        if self.resume:
            self.say(f"resuming after epoch {epochs_done}" + ''.join(
                f"; {k} {a!r} -> {b!r}" for k, (a, b) in self.resume.changes.items()))


def run(config, resume=None, say=None):
    """Train as ``config`` says; returns (history, run directory).

    resume: a ``resume.Resume`` (from ``resume.prepare``) to go on from its
    last checkpoint. say: where the start-up lines go (the command passes
    ``print``; the library itself prints only train_ch5's book lines).
    Interrupted, TrainingDiverged, checkpoint.SaveFailed (a full disk, a
    read-only or removed run directory) and MXNetFailed (MXNet's own error,
    e.g. an operator refusing a value a schedule reached) leave with
    ``run_dir`` and ``epochs_done`` set on them (for the hint).
    """
    workers = setup_workers(config)  # one process, or one of several (dist_*, Horovod)
    # where the run stands, for the line an MXNet error becomes
    where = {'run_dir': resume.run_dir if resume else None,
             'epochs_done': resume.epochs_done if resume else 0, 'epoch': None}
    try:
        with contextlib.ExitStack() as held:   # the run directory's lock, until the end
            return _train(config, resume, say, workers, held, where)
    except BaseException as err:
        workers.leave_early()  # the other workers will not get here: do not wait for them
        import mxnet as mx
        if isinstance(err, mx.base.MXNetError):
            raise _mxnet_failed(err, where) from None
        raise


def _mxnet_failed(err, where):
    """MXNetFailed with MXNet's one line, where it happened and what is saved."""
    stage = (f"in epoch {where['epoch'] + 1}" if where['epoch'] is not None
             else "while the run was set up")
    failed = MXNetFailed(f"MXNet failed {stage}: {one_line(err)}")
    failed.run_dir, failed.epochs_done = where['run_dir'], where['epochs_done']
    return failed


def _train(config, resume, say, workers, held, where):
    """``where``: updated with the run directory once it exists, the epoch being
    trained and the epochs saved (``run`` reports an MXNet error with them)."""
    this = _Run(config, resume, workers, say)
    if this.writes and resume:
        this.lock(held)   # before the checkpoint is read again and restored
    ctxs = workers.local_ctx(select_ctx(config.gpus))
    seed_everything(config.seed)
    net, trainer = build_model(config, ctxs, workers)  # checks --amp before any reading
    train_iter, test_iter = load_data(config)
    workers.shard(train_iter, test_iter, config.batch_size)
    for batches in (train_iter, test_iter):  # a stop that a finalizer dropped, at the next batch
        batches.on_batch = _stop_check(batches.on_batch)
    # the schedule's class first: a resumed checkpoint's optimizer state is checked against it
    schedules.attach(trainer, config, len(train_iter))
    if this.writes and not resume:
        this.lock(held)   # a new directory once every input has been checked
        where['run_dir'] = this.out
    writer, history = this.start(net, trainer, ctxs)
    epochs_done = history[-1]['epoch'] if history else 0
    # after start: a resumed optimizer comes from the checkpoint, without the schedule
    schedules.attach(trainer, config, len(train_iter), epochs_done * len(train_iter))
    this.announce(train_iter, test_iter, epochs_done)

    def on_epoch_start(epoch):
        # Epoch k's shuffle order and dropout masks depend on (seed, k) only,
        # so a resumed epoch is the epoch the uninterrupted run would have had;
        # each worker keeps its own dropout stream (seed + rank).
        train_iter.set_epoch(epoch)
        seed_epoch(config.seed + workers.rank, epoch)
        where['epoch'] = epoch
        if writer is not None:
            where['epochs_done'] = writer.epoch

    def on_epoch_end(record):
        with deferred():  # Ctrl-C waits until the checkpoint is whole
            if writer is not None:
                writer.save(net, trainer, record)
                where['epochs_done'] = writer.epoch

    options = TrainOptions(start_epoch=epochs_done, on_epoch_start=on_epoch_start,
                           on_epoch_end=on_epoch_end,
                           bar=progress_bar(config.quiet or not this.writes),
                           loss=make_loss(config), allreduce=workers.allreduce, tta=config.tta)
    try:
        with _book_lines(this.writes):
            history = train_ch5(net, train_iter, test_iter, config.batch_size, trainer, ctxs,
                                config.epochs, options=options)
    except (Interrupted, TrainingDiverged, SaveFailed) as err:
        err.run_dir, err.epochs_done = this.out, (writer.epoch if writer else epochs_done)
        raise
    return (writer.history if writer else history), this.out


def _stop_check(report):
    """on_batch: raise a noted stop (interrupt.raise_pending), then ``report`` if any."""
    def on_batch(epoch, batch):
        raise_pending()
        if report is not None:
            report(epoch, batch)
    return on_batch


def _silent(*args):
    pass


@contextlib.contextmanager
def _book_lines(writes):
    """train_ch5 prints the book's lines: other ranks' go nowhere."""
    if writes:
        yield
        return
    with open(os.devnull, 'w') as devnull, contextlib.redirect_stdout(devnull):
        yield
