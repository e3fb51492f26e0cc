"""One writer per run directory: ``fcntl.flock`` on ``RUN_DIR/.lock``.

The kernel drops an flock when its process ends, however it ends (kill -9
included), so a lock left by a dead process never blocks: the file stays,
the lock does not. The file holds the holder's pid, for the refusal's line.
Readers (evaluate, predict) take no lock: the manifest is their commit point.
"""
import contextlib
import fcntl
import os

from ..errors import RunDirBusy

LOCK_NAME = '.lock'


@contextlib.contextmanager
def writer_lock(run_dir):
    """Hold the run directory's lock for the ``with`` block; RunDirBusy (one line
    naming the holder's pid, exit 2) if another process holds it. OSError if
    the lock file cannot be created (a read-only or missing directory)."""
    path = os.path.join(run_dir, LOCK_NAME)
    # O_NOFOLLOW: a symlink planted at .lock is refused (ELOOP), not followed
    # read-only: flock needs no write access, and a file open for writing would
    # keep the file system from being remounted read-only under a run
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode('ascii', 'replace').strip() or 'unknown'
            raise RunDirBusy(f"{run_dir} is being written by another process (pid {holder:.20}, "
                             f"which holds {path}); wait for it to finish or stop it") from None
        writing = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.write(writing, f'{os.getpid()}\n'.encode())
        finally:
            os.close(writing)
        yield path
    finally:
        os.close(fd)   # closing releases the flock
