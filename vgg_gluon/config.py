"""One configuration object for the command line and the library.

Defaults are seed 000's recipe (d2lzh, MXNet): VGG-11 with channels / 4,
96-pixel inputs, SGD at lr 0.05, batch 128, 5 epochs, Xavier init.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from .models.architectures import check_ratio, min_input_size, parse_arch
from .errors import ConfigError

# Gluon Trainer kvstores: one machine (local, device) or MXNet's parameter server (dist_*)
KVSTORES = ('local', 'device', 'dist_sync', 'dist_device_sync', 'dist_async')
OPTIMIZERS = ('sgd', 'nag', 'adam')
SCHEDULES = ('constant', 'step', 'cosine', 'onecycle')  # training/schedules.py builds them
# Test-time augmentation of every evaluation: 'flip' averages the posteriors of the
# image and its mirror (the mirror is as likely an item as the image: --augment flip)
TTAS = ('none', 'flip')
# The largest input side: twice the paper's 224 (its multi-scale tests go to 384);
# beyond it one image's activations alone outgrow any device's memory.
MAX_RESIZE = 448
# The manifest keeps every epoch's metrics (about 0.3 kB each) and is read back
# only up to 16 MiB (checkpoint.reader.MANIFEST_LIMIT): 10,000 epochs stay far inside.
MAX_EPOCHS = 10000
# Fashion-MNIST's splits (data.fashion_mnist reads files of these sizes);
# a batch larger than the training split is the split itself.
TRAIN_IMAGES, TEST_IMAGES = 60000, 10000
MAX_BATCH = TRAIN_IMAGES
# MXNet hands every rate to its operators as a float32 parsed from text and refuses
# one it cannot represent (above 3.4e38, or below 1.2e-38 where float32 loses
# precision); these bounds leave room for the schedules' and label smoothing's
# divisions (lr / 25, smoothing / 10) and keep a typo like 1e-50 out of a step.
RATE_MIN, RATE_MAX = 1e-30, 1e30
_BOOLEANS = ('scale_dense', 'wd_all', 'quiet', 'hybridize', 'horovod', 'amp')
_NUMBERS = ('lr', 'momentum', 'wd', 'lr_factor', 'label_smoothing', 'dropout')
_STRINGS = ('arch', 'optimizer', 'lr_schedule', 'augment', 'tta', 'gpus', 'kvstore')
_OPTIONAL_STRINGS = ('data_dir', 'out')


@dataclass
class Config:
    arch: str = 'vgg11'             # name in ARCHS or 'CONVSxCHANNELS,...'
    ratio: int = 4                  # divide conv channels (book's small_conv_arch)
    scale_dense: bool = False       # also divide the 4096-unit dense layers (seed 002)
    resize: int = 96                # input side in pixels; the book's full size is 224
    epochs: int = 5
    lr: float = 0.05
    batch_size: int = 128
    optimizer: str = 'sgd'          # 'sgd', 'nag' (Nesterov) or 'adam'
    momentum: float = 0.0           # SGD/NAG momentum (0: the book's plain SGD)
    wd: float = 0.0                 # weight decay (L2), none on biases and BatchNorm ...
    wd_all: bool = False            # ... unless this is set
    lr_schedule: str = 'constant'   # constant, step, cosine or onecycle (schedules.py)
    warmup_epochs: Optional[float] = None  # linear warm-up; None: the schedule's default
    lr_steps: Optional[list] = None  # step: the epochs after which lr is multiplied ...
    lr_factor: float = 0.1          # ... by this
    label_smoothing: float = 0.0    # weight of the uniform target (0: one-hot, the book)
    augment: str = 'none'           # 'none' or a comma-separated list of augment.AUGMENTATIONS
    tta: str = 'none'               # evaluation: 'none' (the book) or 'flip' (TTAS)
    seed: int = 0                   # same seed, same machine -> same numbers
    gpus: str = 'auto'              # 'auto' (gpu(0) if any), 'cpu', or '0,1,...'
    data_dir: Optional[str] = None  # None: $VGG_GLUON_DATA, ~/.mxnet/..., /usr/share/...
    out: Optional[str] = None       # run directory; None: runs/<time stamp>
    train_samples: Optional[int] = None  # first n training images only
    test_samples: Optional[int] = None   # first n test images only
    quiet: bool = False             # no progress bar or start-up lines
    hybridize: bool = True          # compile the graph (static_alloc, static_shape)
    scale_jitter: Optional[list] = None  # [S_min, S_max]: train on random-S rescales cropped to resize
    dropout: float = 0.5            # dropout after the two big dense layers (0: off)
    kvstore: str = 'device'         # Trainer kvstore; dist_* under python -m vgg_gluon.launch
    horovod: bool = False           # all-reduce with Horovod (under horovodrun)
    amp: bool = False               # float16 with MXNet AMP and loss scaling (GPU only)
    extra: dict = field(default_factory=dict)  # room for later options

    def conv_arch(self):
        return parse_arch(self.arch)

    def validate(self):
        """Raise ConfigError naming the flag for the first setting out of range."""
        self._check_types()
        conv_arch = self.conv_arch()        # ArchError (a ConfigError) names 'arch'
        check_ratio(conv_arch, self.ratio)  # ... or 'ratio'
        smallest = min_input_size(conv_arch)
        if not _is_int(self.resize) or not smallest <= self.resize <= MAX_RESIZE:
            raise ConfigError(f"must be an integer from {smallest} ({len(conv_arch)} poolings "
                              f"halve it) to {MAX_RESIZE}, got {self.resize!r:.40}",
                              flag='resize')
        for flag, value, most in (('epochs', self.epochs, MAX_EPOCHS),
                                  ('batch_size', self.batch_size, MAX_BATCH)):
            if not _is_int(value) or not 1 <= value <= most:
                raise ConfigError(f"must be a positive integer, at most {most}, "
                                  f"got {value!r:.40}", flag=flag)
        if not (_is_number(self.lr) and RATE_MIN <= self.lr <= RATE_MAX):
            raise ConfigError(f"must be a positive number from {RATE_MIN:g} to {RATE_MAX:g} "
                              f"(MXNet's float32), got {self.lr!r:.40}", flag='lr')
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}",
                              flag='optimizer')
        self._check_toolkit()
        for flag, value, most in (('train_samples', self.train_samples, TRAIN_IMAGES),
                                  ('test_samples', self.test_samples, TEST_IMAGES)):
            if value is not None and (not _is_int(value) or value < 1):
                raise ConfigError(f"must be a positive integer, got {value!r:.40}", flag=flag)
            if value is not None and value > most:
                raise ConfigError(f"must be from 1 to {most} (the split's size), got {value}",
                                  flag=flag)
        from .runtime.devices import parse_gpus
        parse_gpus(self.gpus)
        if self.scale_jitter is not None:
            check_scale_jitter(self.scale_jitter, self.resize)
            from .data.augment import CROPS, parse_augment
            crops = [a for a in parse_augment(self.augment) if a in CROPS]
            if crops:
                raise ConfigError(f"scale jittering makes its own crops: with --scale-jitter "
                                  f"use flip and/or erase, not {' or '.join(crops)}", flag='augment')
        if not _is_fraction(self.dropout):
            raise ConfigError(f"must be a number in [0, 1), 0 or at least {RATE_MIN:g} "
                              f"(MXNet's float32), got {self.dropout!r:.40}", flag='dropout')
        if self.kvstore not in KVSTORES:
            raise ConfigError(f"must be one of {', '.join(KVSTORES)}, got {self.kvstore!r}",
                              flag='kvstore')
        if self.horovod and self.kvstore.startswith('dist'):
            raise ConfigError(f"Horovod replaces the parameter server: "
                              f"drop --kvstore {self.kvstore}", flag='horovod')
        return self

    def _check_types(self):
        """ConfigError for a value of the wrong type (a config.json written by hand):
        the seed an integer, switches booleans, rates numbers, names strings."""
        if not _is_int(self.seed) or not 0 <= self.seed < 2 ** 32:
            raise ConfigError(f"must be an integer from 0 to 2**32 - 1, got {self.seed!r:.40}",
                              flag='seed')
        for flag in _BOOLEANS:
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"must be true or false, got {getattr(self, flag)!r:.40}",
                                  flag=flag)
        for flag in _NUMBERS:
            if not _is_number(getattr(self, flag)):
                raise ConfigError(f"must be a number, got {getattr(self, flag)!r:.40}", flag=flag)
        for flag in _STRINGS + _OPTIONAL_STRINGS:
            value = getattr(self, flag)
            if not (isinstance(value, str) or (value is None and flag in _OPTIONAL_STRINGS)):
                raise ConfigError(f"must be a string, got {value!r:.40}", flag=flag)
        check_extra(self.extra)

    def _check_toolkit(self):
        """Momentum, weight decay, the schedule, label smoothing, augmentation."""
        from .data.augment import parse_augment
        if not _is_fraction(self.momentum):
            raise ConfigError(f"must be a number in [0, 1), 0 or at least {RATE_MIN:g} "
                              f"(MXNet's float32), got {self.momentum!r:.40}", flag='momentum')
        if self.momentum and self.optimizer == 'adam':
            raise ConfigError("applies to sgd and nag (Adam has its own moments); drop "
                              "--momentum or choose --optimizer sgd|nag", flag='momentum')
        if not (_is_number(self.wd) and (self.wd == 0 or RATE_MIN <= self.wd <= RATE_MAX)):
            raise ConfigError(f"must be a finite number >= 0: 0 or {RATE_MIN:g} to "
                              f"{RATE_MAX:g} (MXNet's float32), got {self.wd!r:.40}", flag='wd')
        if not _is_fraction(self.label_smoothing):
            raise ConfigError(f"must be a number in [0, 1), 0 or at least {RATE_MIN:g} "
                              f"(MXNet's float32), got {self.label_smoothing!r:.40}",
                              flag='label_smoothing')
        check_schedule(self)
        parse_augment(self.augment)
        if self.tta not in TTAS:
            raise ConfigError(f"must be one of {', '.join(TTAS)}, got {self.tta!r:.40}", flag='tta')

    def to_dict(self):
        return dataclasses.asdict(self)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    """A finite or infinite int or float, not a bool (NaN fails every comparison)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_fraction(value):
    """0, or a number in [RATE_MIN, 1) (momentum, dropout, label smoothing)."""
    return _is_number(value) and (value == 0 or RATE_MIN <= value < 1)


def check_extra(extra):
    """ConfigError unless ``extra`` is what train writes there: {} or
    {'recipe': NAME, 'overrides': [setting, ...]} (config.json edited by hand)."""
    if not isinstance(extra, dict):
        raise ConfigError(f"must be a JSON object, got {extra!r:.40}", flag='extra')
    unknown = sorted(set(extra) - {'recipe', 'overrides'})
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(map(repr, unknown))} (recipe and "
                          f"overrides are known)", flag='extra')
    if 'recipe' in extra and not isinstance(extra['recipe'], str):
        raise ConfigError(f"recipe must be a string, got {extra['recipe']!r:.40}", flag='extra')
    overrides = extra.get('overrides', [])
    fields = {f.name for f in dataclasses.fields(Config)}
    if not (isinstance(overrides, list) and all(isinstance(o, str) and o in fields
                                                for o in overrides)):
        raise ConfigError(f"overrides must be a list of setting names, got {overrides!r:.40}",
                          flag='extra')


def check_scale_jitter(value, resize):
    """[S_min, S_max] with resize <= S_min <= S_max <= 4 * resize, else ConfigError."""
    ok = (isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) for v in value)
          and resize <= value[0] <= value[1] <= 4 * resize)
    if not ok:
        raise ConfigError(f"must be SMIN,SMAX with --resize ({resize}) <= "
                          f"SMIN <= SMAX <= {4 * resize} (4 x --resize), got {value!r}",
                          flag='scale_jitter')


def check_schedule(config):
    """ConfigError naming the flag for a schedule that cannot run."""
    if config.lr_schedule not in SCHEDULES:
        raise ConfigError(f"must be one of {', '.join(SCHEDULES)}, got {config.lr_schedule!r}",
                          flag='lr_schedule')
    warmup = config.warmup_epochs
    if warmup is not None and not (isinstance(warmup, (int, float)) and not isinstance(
            warmup, bool) and 0 <= warmup < config.epochs):
        raise ConfigError(f"must be a number from 0 to less than --epochs ({config.epochs}): "
                          f"the warm-up cannot be the whole run, got {warmup!r}",
                          flag='warmup_epochs')
    steps = config.lr_steps
    if config.lr_schedule == 'step':
        if not steps or not all(isinstance(s, int) and not isinstance(s, bool) for s in steps) \
                or list(steps) != sorted(set(steps)) or steps[0] < 1:
            raise ConfigError(f"--lr-schedule step needs increasing epochs >= 1 like 30,60, "
                              f"got {steps!r}", flag='lr_steps')
    elif steps is not None:
        raise ConfigError(f"only with --lr-schedule step (not {config.lr_schedule})",
                          flag='lr_steps')
    factor = config.lr_factor
    if not (_is_number(factor) and RATE_MIN <= factor <= 1):
        raise ConfigError(f"must be a number in (0, 1], at least {RATE_MIN:g} (MXNet's "
                          f"float32), got {factor!r:.40}", flag='lr_factor')
