"""Learning-rate schedules, per batch, from MXNet's own ``mxnet.lr_scheduler``.

    --lr-schedule constant   the book: lr throughout (a warm-up first if asked)
    --lr-schedule step       lr x lr_factor after each epoch in --lr-steps (MultiFactorScheduler)
    --lr-schedule cosine     half a cosine from lr to 0 (CosineScheduler)
    --lr-schedule onecycle   Smith's one cycle: linear from lr/25 up to lr over the
                             warm-up (default: the first 30 % of the run), then linear
                             down to 0 (PolyScheduler, power 1)

``--warmup-epochs`` (any schedule) rises linearly to lr first. The scheduler
is the optimizer's: MXNet calls it with the optimizer's ``num_update``, the
number of steps taken (1 at the first step), so the rate changes every batch
and the parameter servers (dist_* kvstores, which run the optimizer) follow
it too. A resumed run sets the count to the steps already taken
(``resume_at``), so it continues the schedule where the checkpoint left it.
The book's recipe (constant, no warm-up) uses no scheduler at all: the
optimizer is exactly the one it always was.
"""
from mxnet import lr_scheduler

from ..runtime import mxnet_internals as internals

ONECYCLE_WARMUP = 0.3     # fraction of the run (Smith 2018; fastai's and PyTorch's pct_start)
ONECYCLE_START = 1 / 25   # the first rate as a fraction of lr (PyTorch's div_factor 25)


def warmup_epochs(config):
    """The warm-up in epochs: --warmup-epochs, or the schedule's own default."""
    if config.warmup_epochs is not None:
        return config.warmup_epochs
    return ONECYCLE_WARMUP * config.epochs if config.lr_schedule == 'onecycle' else 0


def make_scheduler(config, steps_per_epoch):
    """The ``mxnet.lr_scheduler`` for ``config`` (None for the book's constant rate).

    steps_per_epoch: the (global) batches of an epoch; the schedule spans
    ``config.epochs`` of them.
    """
    total = config.epochs * steps_per_epoch
    # --warmup-epochs is checked in epochs (< --epochs); rounded to whole steps it can
    # reach the whole run, where MXNet divides by (total - warm-up) at the last step
    warmup = min(int(round(warmup_epochs(config) * steps_per_epoch)), total - 1)
    lr = config.lr
    if config.lr_schedule == 'constant':
        if not warmup:
            return None
        # a factor of 1 never changes the rate: the warm-up alone
        return lr_scheduler.FactorScheduler(step=total + 1, factor=1.0, base_lr=lr,
                                            warmup_steps=warmup)
    if config.lr_schedule == 'step':
        # MultiFactorScheduler multiplies when num_update > step: after that many steps
        return lr_scheduler.MultiFactorScheduler(
            step=[s * steps_per_epoch for s in config.lr_steps], factor=config.lr_factor,
            base_lr=lr, warmup_steps=warmup)
    if config.lr_schedule == 'cosine':
        return lr_scheduler.CosineScheduler(total, base_lr=lr, final_lr=0, warmup_steps=warmup)
    return lr_scheduler.PolyScheduler(total, base_lr=lr, pwr=1, final_lr=0, warmup_steps=warmup,
                                      warmup_begin_lr=lr * ONECYCLE_START)


def attach(trainer, config, steps_per_epoch, steps_done=0):
    """Give the trainer's optimizer ``config``'s schedule, at step ``steps_done``.

    Called after the optimizer states of a resumed run are loaded (they bring
    an optimizer of their own): the schedule is built afresh from the config
    (a changed --lr then applies) and the step count set to the steps taken.
    Without a schedule, the rate is simply ``config.lr``.
    """
    scheduler = make_scheduler(config, steps_per_epoch)
    optimizer = trainer.optimizer
    if scheduler is None:
        optimizer.lr_scheduler = None
        trainer.set_learning_rate(config.lr)
        return None
    optimizer.lr_scheduler = scheduler
    if steps_done:
        internals.set_update_count(optimizer, steps_done)
    return scheduler


def schedule_table(config, steps_per_epoch):
    """[(epoch, rate at that epoch's last step)] for 1..epochs (plots, tests)."""
    scheduler = make_scheduler(config, steps_per_epoch)
    if scheduler is None:
        return [(e, config.lr) for e in range(1, config.epochs + 1)]
    return [(e, float(scheduler(e * steps_per_epoch))) for e in range(1, config.epochs + 1)]

