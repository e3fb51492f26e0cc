"""predict as a real process given the hard files of issue 26 among good ones: a
FIFO (opening it would wait for a writer), a PNG claiming 20000x20000 pixels and
a 16-bit PNG. Each bad file is one line naming it; every other file is still
predicted, in order; the 16-bit one is scaled like its 8-bit twin."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from test_image_files import _png_header_only
from vgg_gluon import train

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TINY = ['--arch', '1x32,1x64', '--ratio', '8', '--scale-dense', '--resize', '32',
        '--batch-size', '64', '--train-samples', '256', '--test-samples', '64', '--quiet',
        '--gpus', 'cpu', '--epochs', '1']


@pytest.mark.slow
def test_predict_goes_on_past_a_fifo_and_a_bomb(tmp_path, fmnist):
    run = str(tmp_path / 'run')
    assert train.main(TINY + ['--out', run]) == 0
    item = fmnist['test'][0][0]
    good8, good16 = str(tmp_path / 'item8.png'), str(tmp_path / 'item16.png')
    Image.fromarray(item).save(good8)
    Image.fromarray(item.astype(np.uint16) * 257).save(good16)   # the same item in 16 bits
    fifo, bomb = str(tmp_path / 'pipe.png'), str(tmp_path / 'bomb.png')
    os.mkfifo(fifo)
    _png_header_only(bomb, 20000, 20000)
    proc = subprocess.run([sys.executable, '-m', 'vgg_gluon.predict', run, good8, fifo, bomb,
                           good16, '--gpus', 'cpu', '--top-k', '10'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 2 and 'Traceback' not in proc.stderr, proc.stderr
    assert errors[0].startswith('python -m vgg_gluon.predict: error: ') and fifo in errors[0]
    assert 'not a regular file' in errors[0]
    assert bomb in errors[1] and 'over the limit of 50,000,000 pixels' in errors[1]
    lines = proc.stdout.strip().splitlines()
    assert [line.split(':')[0] for line in lines] == [good8, good16]
    # scaled, not clipped: 16-bit values x 257 read back as the 8-bit item exactly
    assert lines[0].split(': ', 1)[1] == lines[1].split(': ', 1)[1]
