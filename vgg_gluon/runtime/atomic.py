"""Files written whole or not at all.

Every file is written to a temporary file in the same directory, fsynced and
renamed over its name (``os.replace``): a process killed at any moment leaves
the old file or the new one, never a mixture.
"""
import hashlib
import os
import shutil
import tempfile

_TMP = '.tmp-'   # temporaries are '.<name>.tmp-<random>': checkpoint pruning knows the pattern
_UMASK = os.umask(0)
os.umask(_UMASK)  # mkstemp makes files 0600; the run's files get the mode open() would give


def atomic_write(path, write):
    """Call ``write(tmp_path)``, fsync, then rename over ``path`` in one step.

    The temporary file lies in the same directory (a rename across file
    systems is not atomic), is created exclusively under an unpredictable
    name (``mkstemp``: O_EXCL, so a symlink planted at a guessed name is
    never followed), and is removed if ``write`` fails.
    """
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f'.{name}{_TMP}', dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
    finally:
        os.close(fd)
    try:
        write(tmp)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_text(path, text):
    def write(tmp):
        with open(tmp, 'w') as f:
            f.write(text)
    atomic_write(path, write)


def _fsync_dir(directory):
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_digest(path):
    """{'size': bytes, 'sha256': hex} of a file."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return {'size': os.path.getsize(path), 'sha256': h.hexdigest()}


def link_or_copy(src, dst):
    """``dst`` becomes a copy of ``src`` atomically (a hard link where possible)."""
    if os.path.exists(dst) and os.path.samefile(src, dst):
        # already a link to it; and renaming a link over another link of the
        # same file does nothing (POSIX rename), which would leave the temporary behind
        return

    def write(tmp):
        os.remove(tmp)  # os.link needs a free name; mkstemp's is random, so still ours
        try:
            os.link(src, tmp)   # never follows or replaces anything at tmp (EEXIST)
        except FileExistsError:
            raise
        except OSError:  # file systems without hard links: a new file, O_EXCL again
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with open(src, 'rb') as source, os.fdopen(fd, 'wb') as target:
                shutil.copyfileobj(source, target)
    atomic_write(dst, write)
