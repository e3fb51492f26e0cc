"""The one exception family of vgg_gluon: input it cannot use.

Every error the library raises for bad input is an ``Error`` carrying
``flag``, the name of the setting to change, as ``Config`` spells it
(``'lr'``, ``'batch_size'``, ``'run_dir'``), or None. The library never spells
a command-line option: ``cli.fail`` turns ``'batch_size'`` into
``--batch-size`` (and ``'run_dir'`` into ``RUN_DIR``) when it prints the one
line a command shows for bad input.
"""


class Error(ValueError):
    """Input vgg_gluon cannot use; ``flag`` names the setting to change."""

    default_flag = None

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
