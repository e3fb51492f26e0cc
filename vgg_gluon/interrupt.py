"""Ctrl-C and SIGTERM as one exception, held back while a checkpoint is written.

The command line installs ``stop_on_signals``; the library never touches
signal handlers. A signal that arrives inside ``deferred()`` (writing a
checkpoint) is raised when the block ends, so a stopped run never leaves
a checkpoint half-written even when it is stopped politely. (``kill -9``
cannot be caught: the manifest-last order of checkpoint.py covers it.)
"""
import contextlib
import signal

_state = {'deferring': False, 'pending': None}


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; ``exit_status`` is the shell's 128 + signal."""

    def __init__(self, signum):
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_status(self):
        return 128 + self.signum


def _handler(signum, frame):
    if _state['deferring']:
        _state['pending'] = signum
    else:
        raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals(signums=(signal.SIGINT, signal.SIGTERM)):
    """Within the block, the signals raise Interrupted; the old handlers come back after."""
    old = {s: signal.signal(s, _handler) for s in signums}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred():
    """Hold Interrupted back until the block has finished."""
    if _state['deferring']:
        yield
        return
    _state['deferring'], _state['pending'] = True, None
    try:
        yield
    finally:
        _state['deferring'] = False
    pending, _state['pending'] = _state['pending'], None
    if pending is not None:
        raise Interrupted(pending)
