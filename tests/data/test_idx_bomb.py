"""A gzip bomb in --data-dir is refused after the declared size, in little memory (issue 26)."""
import gzip
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest

_MEASURE = textwrap.dedent('''
    import resource, sys
    from vgg_gluon.data.fashion_mnist import IMAGE_MAGIC, read_idx
    from vgg_gluon.errors import DataError
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        read_idx(sys.argv[1], IMAGE_MAGIC)
    except DataError as err:
        print(err)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
''')


@pytest.mark.slow
def test_gzip_bomb_refused_in_little_memory(tmp_path):
    bomb = tmp_path / 'train-images-idx3-ubyte.gz'
    inflated = 1 << 30   # 1 GiB of zeros behind a header declaring 10,000 images (7.8 MB)
    with open(bomb, 'wb') as raw:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)   # 31: a gzip stream
        raw.write(z.compress(struct.pack('>4I', 0x803, 10000, 28, 28)))
        block = bytes(1 << 24)
        for _ in range(inflated // len(block)):
            raw.write(z.compress(block))
        raw.write(z.flush())
    assert bomb.stat().st_size < 2 << 20 and gzip.open(bomb).read(4) == b'\0\0\x08\x03'
    done = subprocess.run([sys.executable, '-c', _MEASURE, str(bomb)], capture_output=True,
                          text=True, timeout=120, check=True)
    message, measured = done.stdout.strip().splitlines()
    peak = float(measured)   # what was inflated shows in the memory, never in a clock
    assert 'has trailing data' in message and str(bomb) in message
    assert peak < 64 << 20, f"peak memory grew by {peak / 2**20:.0f} MiB"
