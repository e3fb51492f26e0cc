"""Image files as predict and the page read them: the hard cases, each one line.

Real Fashion-MNIST items where the content matters (inversion, padding);
synthetic files for the formats (16-bit, CMYK, GIF, bombs, broken files).
"""
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vgg_gluon.errors import Error, ImageError
from vgg_gluon.inference import images


def _png_header_only(path, width, height):
    """A PNG whose header says width x height, with a few bytes of data: decoding it
    would need width * height bytes, and it must be refused before."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0' * 64))
                + chunk(b'IEND', b''))


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    path = tmp_path / 'bomb.png'
    _png_header_only(path, 20000, 20000)
    with pytest.raises(ImageError, match='over the limit of 50,000,000 pixels'):
        images.load_grey(str(path))


@pytest.mark.parametrize('content, message', [(b'', 'empty file'),
                                              (b'hello, not an image\n', 'not an image')])
def test_empty_and_non_image_files(tmp_path, content, message):
    path = tmp_path / 'x.png'
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        images.load_grey(str(path))


def test_a_truncated_png(tmp_path, fmnist):
    path = tmp_path / 'item.png'
    Image.fromarray(fmnist['test'][0][0]).resize((200, 200)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ImageError, match='cannot decode'):
        images.load_grey(str(path))


def test_a_fifo_and_a_directory_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / 'pipe'
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match='not a regular file'):
        images.load_grey(str(fifo))     # opening it would wait for a writer
    with pytest.raises(ImageError, match='is a directory'):
        images.load_grey(str(tmp_path))


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16).repeat(4, axis=0)
    path = tmp_path / 'deep.png'
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith('I')
    np.testing.assert_array_equal(images.load_grey(str(path))[0], [0, 1, 128, 255])


def test_cmyk_is_converted_through_rgb(tmp_path):
    path = tmp_path / 'print.jpg'
    Image.new('CMYK', (16, 16), (0, 0, 0, 255)).save(path, quality=100)   # full black ink
    Image.new('CMYK', (16, 16), (0, 0, 0, 0)).save(tmp_path / 'paper.tif')
    assert images.load_grey(str(path)).max() < 16
    assert images.load_grey(str(tmp_path / 'paper.tif')).min() == 255


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    path = tmp_path / 'anim.gif'
    frames = [Image.new('L', (8, 8), 200), Image.new('L', (8, 8), 10)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 2
    assert abs(int(images.load_grey(str(path)).mean()) - 200) <= 2


def test_auto_inverts_dark_on_light_only(fmnist, tmp_path):
    item = fmnist['test'][0][0]
    Image.fromarray(item).save(tmp_path / 'item.png')
    Image.fromarray(255 - item).save(tmp_path / 'photo.png')
    plain = images.prepare_image(str(tmp_path / 'item.png'))
    flipped = images.prepare_image(str(tmp_path / 'photo.png'))
    assert not plain.inverted and flipped.inverted
    np.testing.assert_array_equal(plain.image, item)
    np.testing.assert_array_equal(flipped.image, item)
    assert images.prepare_image(str(tmp_path / 'item.png'), 'always').inverted
    assert not images.prepare_image(str(tmp_path / 'photo.png'), 'never').inverted
    with pytest.raises(Error):
        images.prepare(item, 'sometimes')


def test_a_wide_image_is_padded_to_a_square_not_stretched():
    wide = np.zeros((28, 56), np.uint8)
    wide[:, 14:42] = 255                    # a 28x28 white square in the middle
    out = images.prepare(wide, 'never').image
    assert out.shape == (28, 28)
    # padded to 56x56 with black, then halved: the square is 14x14 in the centre
    assert (out[7:21, 7:21] == 255).all() and out[:6].max() == 0 and out[:, :6].max() == 0


def test_transparent_pixels_count_as_white():
    rgba = np.zeros((28, 28, 4), np.uint8)            # transparent everywhere
    rgba[10:18, 10:18] = (0, 0, 0, 255)               # a black opaque stroke
    grey = images.to_grey(Image.fromarray(rgba, 'RGBA'))
    assert grey[0, 0] == 255 and grey[12, 12] == 0
    assert images.prepare(grey).inverted
