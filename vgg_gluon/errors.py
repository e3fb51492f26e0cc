"""Every exception vgg_gluon raises on purpose, under one base class.

``VGGGluonError`` is the base: a command catches it, and only it, and
``cli.arguments.report`` turns each kind into its one line and exit status.

- ``Error`` (a ``ValueError``): input vgg_gluon cannot use. It carries
  ``flag``, the name of the setting to change as ``Config`` spells it
  (``'lr'``, ``'batch_size'``, ``'run_dir'``), or None. The library never
  spells a command-line option: the command line turns ``'batch_size'`` into
  ``--batch-size`` (and ``'run_dir'`` into ``RUN_DIR``). Exit status 2.
- ``TrainingDiverged``: the loss became NaN or infinite. Exit status 1.
- ``MXNetFailed``: MXNet raised an error while a run was set up or trained
  (an operator refusing a value, a failed allocation). Exit status 1.
- ``SaveFailed``: the run directory could not be written. Exit status 74.
- ``Interrupted``: SIGINT or SIGTERM. Exit status 128 + the signal.

The base is a ``BaseException``, like ``KeyboardInterrupt``, because
``Interrupted`` must pass through every ``except Exception`` on the way
(ours, MXNet's, tqdm's); the other kinds are ``Exception`` subclasses too.
"""
import signal

EXIT_USAGE = 2     # bad input (argparse's own status)
EXIT_IO = 74       # the run directory could not be written (sysexits' EX_IOERR)


class VGGGluonError(BaseException):
    """The base of everything vgg_gluon raises on purpose."""

    exit_status = 1


class Error(VGGGluonError, ValueError):
    """Input vgg_gluon cannot use; ``flag`` names the setting to change."""

    default_flag = None
    exit_status = EXIT_USAGE

    def __init__(self, message, flag=None):
        super().__init__(message)
        self.flag = flag if flag is not None else self.default_flag


class ConfigError(Error):
    """A setting out of range."""


class ArchError(ConfigError):
    """An architecture name, string or ratio that cannot be built."""

    default_flag = 'arch'


class DataError(Error):
    """A data directory, IDX file or slice that cannot be used."""

    default_flag = 'data_dir'


class CheckpointError(Error):
    """A run directory that cannot be trusted or does not fit what was asked."""

    default_flag = 'run_dir'


class RunDirBusy(CheckpointError):
    """Another process writes in the run directory (it holds its lock)."""


class ImageError(Error):
    """A file that is not a readable image."""

    default_flag = 'images'


class LaunchError(Error):
    """Bad launcher input; ``flag`` names the option."""


class TrainingDiverged(VGGGluonError, RuntimeError):
    """The training loss became NaN or infinite; ``epochs_done`` and
    ``run_dir`` (when known) say what is saved."""


class MXNetFailed(VGGGluonError, RuntimeError):
    """MXNet raised an error while a run was set up or trained; the message is
    MXNet's one line, and ``epochs_done`` and ``run_dir`` (None if nothing was
    created yet) say what is saved."""


class SaveFailed(VGGGluonError, Exception):
    """A checkpoint (or the run directory) could not be written: a full disk, a
    read-only or removed directory. The previous checkpoint is untouched."""

    exit_status = EXIT_IO


class Interrupted(VGGGluonError):
    """SIGINT or SIGTERM arrived; ``exit_status`` is the shell's 128 + signal."""

    def __init__(self, signum):
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_status(self):
        return 128 + self.signum


def one_line(err):
    """One line of an error message: MXNet's own 'MXNetError: ...' line if there
    is one, the last line after a C++ traceback (MXNet's messages start with
    one: 'LocalFileSystem: ... Open "x": Read-only file system'), else the first."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith('MXNetError:'):
            return line[len('MXNetError:'):].strip()
    if lines and lines[0].startswith('Traceback (most recent call last)'):
        return lines[-1]
    return lines[0] if lines else type(err).__name__
