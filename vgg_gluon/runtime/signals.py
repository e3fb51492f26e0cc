"""Ctrl-C and SIGTERM as one exception, held back while a checkpoint is written.

The command line installs ``stop_on_signals``; the library never touches
signal handlers. A signal that arrives inside ``deferred()`` (writing a
checkpoint) is raised when the block ends, so a stopped run never leaves
a checkpoint half-written even when it is stopped politely. (``kill -9``
cannot be caught: the manifest-last order of checkpoint.py covers it.)

Python runs a signal handler between any two bytecodes of the main thread,
finalizers (``__del__``, e.g. NDArray's) included, and an exception raised
inside a finalizer is printed ("Exception ignored in ...") and dropped: the
run went on to its end and exited 0 (seen once in about six runs of the
SIGTERM test). So every signal is also noted, and ``raise_pending`` (at
each batch) or the end of the next checkpoint raises one that was dropped.
"""
import contextlib
import signal

from ..errors import Interrupted

_state = {'deferring': False, 'pending': None}


def _handler(signum, frame):
    _state['pending'] = signum  # kept until stop_on_signals ends: a finalizer may drop the raise
    if not _state['deferring']:
        raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals(signums=(signal.SIGINT, signal.SIGTERM)):
    """Within the block, the signals raise Interrupted; the old handlers come back after."""
    _state['pending'] = None
    old = {s: signal.signal(s, _handler) for s in signums}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        _state['pending'] = None


@contextlib.contextmanager
def deferred():
    """Hold Interrupted back until the block has finished; then raise a signal
    that arrived in the block or that a finalizer dropped before it."""
    if _state['deferring']:
        yield
        return
    _state['deferring'] = True
    try:
        yield
    finally:
        _state['deferring'] = False
    raise_pending()


def raise_pending():
    """Raise Interrupted for a signal noted but not raised (or dropped), unless deferring."""
    signum = _state['pending']
    if signum is not None and not _state['deferring']:
        _state['pending'] = None
        raise Interrupted(signum)
