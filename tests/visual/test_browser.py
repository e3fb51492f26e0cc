"""The Inside VGG page in a real browser: Debian's chromium driven by Playwright,
against ``vgg-gluon demo`` serving the shipped ``fast`` model on 127.0.0.1.

Skipped, saying why, where the ``browser`` extra or /usr/bin/chromium is
missing (``scripts/setup.sh test`` installs them for the default python3).
"""
import base64
import importlib.util
import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from urllib.parse import urljoin

import numpy as np
import pytest
from PIL import Image

from vgg_gluon import predict
from vgg_gluon.visual.inside import VIEW   # screen pixels per input pixel in the drawn images

CHROMIUM = '/usr/bin/chromium'
RESIZE = 28      # the shipped fast model's input size

MISSING = [what for what, ok in (('gradio', importlib.util.find_spec('gradio')),
                                 ('playwright', importlib.util.find_spec('playwright')),
                                 (CHROMIUM, os.path.exists(CHROMIUM))) if not ok]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} "
                                 f"(scripts/setup.sh test,browser)")]
# no background traffic: the machine (and a classroom) may be offline
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run']


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def shipped_blocks():
    """The shipped fast model's layer table, block by block."""
    from vgg_gluon.checkpoint.zoo import load_shipped
    from vgg_gluon.models.layer_table import layer_table
    run = load_shipped('fast')
    assert run.config.resize == RESIZE
    return layer_table(run.net, (1, 1, RESIZE, RESIZE))['blocks']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """A real run directory: the fast recipe, two epochs on 1000 images (a few seconds)."""
    out = tmp_path_factory.mktemp('tiny') / 'tiny'
    subprocess.run([sys.executable, '-m', 'vgg_gluon.train', '--recipe', 'fast', '--train-samples',
                    '1000', '--test-samples', '500', '--epochs', '2', '--quiet', '--out', str(out)],
                   check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    port = _free_port()
    folder = tmp_path_factory.mktemp('demo')
    log = folder / 'log'
    with open(log, 'w') as out:
        proc = subprocess.Popen([sys.executable, '-m', 'vgg_gluon.demo', '--port', str(port),
                                 '--cache-dir', str(folder / 'cache')],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while 'serving' not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield f'http://127.0.0.1:{port}/'
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={'width': 1280, 'height': 1600})
    page.hosts = set()
    page.on('request', lambda request: page.hosts.add(request.url.split('/')[2]))
    page.goto(server, wait_until='load', timeout=120000)
    page.locator('#go').wait_for(timeout=120000)
    yield page
    page.close()


def _top1(page, timeout=60000):
    box = page.locator('#top1 textarea, #top1 input').first
    page.wait_for_function("el => el.value !== ''", arg=box.element_handle(), timeout=timeout)
    return box.input_value()


def _clear_top1(page):
    page.locator('#top1 textarea, #top1 input').first.evaluate("el => el.value = ''")


def test_the_page_asks_no_other_host(page):
    assert page.title() == 'Inside VGG'
    page.locator('#go').click()
    _top1(page)
    assert page.hosts == {page.url.split('/')[2]}


def test_a_test_image_gets_the_label_predict_gives(page, fmnist, tmp_path, capsys):
    images, _ = fmnist['test']
    path = tmp_path / 'test-0.png'
    Image.fromarray(images[0]).save(path)
    assert predict.main(['--model', 'fast', '--top-k', '1', str(path)]) == 0
    expected = capsys.readouterr().out.split(': ', 1)[1].rsplit(' ', 1)[0]
    page.locator('#go').click()                 # the default input: test image 0
    assert _top1(page) == expected
    assert 'test image 0' in page.locator('#note').inner_text()


def _upload(page, path):
    page.locator('#source').get_by_text('upload').click()
    page.get_by_role('tab', name='upload').click()
    page.locator('#upload input[type=file]').set_input_files(str(path))
    page.wait_for_timeout(1000)             # the file reaches the server before the click
    page.locator('#go').click()


@pytest.mark.parametrize('dark', [False, True], ids=['light-on-black', 'dark-on-white'])
def test_an_upload_and_its_dark_on_white_version_give_predicts_labels(page, fmnist, tmp_path,
                                                                      capsys, dark):
    item = fmnist['test'][0][1]
    path = tmp_path / ('dark-on-white.png' if dark else 'light.png')
    Image.fromarray(255 - item if dark else item).save(path)
    assert predict.main(['--model', 'fast', '--top-k', '1', str(path)]) == 0
    line = capsys.readouterr().out.strip()
    assert ('(inverted)' in line) == dark
    _upload(page, path)
    assert _top1(page) == line.split(': ', 1)[1].rsplit(' ', 1)[0]
    assert ('inverted: it was dark on light' in page.locator('#note').inner_text()) == dark


def test_a_non_image_gets_a_message_and_the_page_goes_on(page, tmp_path):
    bad = tmp_path / 'notes.txt'
    bad.write_text('not an image\n')
    _upload(page, bad)
    page.wait_for_function("() => document.querySelector('#note').innerText"
                           ".includes('Cannot use this input')", timeout=60000)
    assert 'notes.txt' in page.locator('#note').inner_text()
    page.locator('#source').get_by_text('test set').click()
    page.locator('#go').click()
    assert _top1(page)                          # the next request is answered


def _note_says(page, text, timeout=60000):
    page.wait_for_function("t => document.querySelector('#note').innerText.includes(t)",
                           arg=text, timeout=timeout)


def _predicted(capsys, *args):
    assert predict.main(['--top-k', '1', *map(str, args)]) == 0
    return capsys.readouterr().out.strip().split(': ', 1)[1].rsplit(' ', 1)[0]


def _image_pixels(page, selector):
    """The RGB pixels (h, w, 3) of the image a Gradio Image component shows."""
    src = page.locator(f'{selector} img').first.get_attribute('src')
    if src.startswith('data:'):
        data = base64.b64decode(src.split(',', 1)[1])
    else:
        data = page.request.get(urljoin(page.url, src)).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert('RGB'))


def test_strokes_drawn_on_the_canvas_get_a_prediction(page):
    page.get_by_role('tab', name='draw').click()
    page.locator('#sketch button[aria-label="Brush"]').first.click()     # as a user does
    canvas = page.locator('#sketch canvas').last
    canvas.wait_for()
    box = canvas.bounding_box()
    cx, cy = box['x'] + box['width'] / 2, box['y'] + box['height'] / 2
    # trousers: two legs, drawn as strokes with the mouse held down
    for dx in (-30, 30):
        page.mouse.move(cx + dx, cy - 100)
        page.mouse.down()
        for step in range(1, 21):
            page.mouse.move(cx + dx * (1 + step / 40), cy - 100 + step * 10)
        page.mouse.up()
    page.locator('#source').get_by_text('draw').click()
    page.locator('#go').click()
    _note_says(page, 'inverted: it was dark on light')   # black strokes on a white canvas
    assert _top1(page) == 'trouser'
    seen = _image_pixels(page, '#seen')
    assert seen.max() > 200 and seen.min() < 50           # strokes, light on dark


def test_a_clicked_unit_gets_the_field_the_layer_table_gives(page, shipped_blocks):
    page.locator('#go').click()
    _top1(page)
    page.locator('#block').get_by_text('2', exact=True).click()
    clickable = page.locator('#clickable img').first
    page.wait_for_timeout(1000)              # the block's map replaced
    box = clickable.bounding_box()
    row_table = shipped_blocks[1]
    size = row_table['output_shape'][1]
    unit = (3, 5)                            # (row, column) of the 7x7 map of block 2
    clickable.click(position={'x': (unit[1] + 0.5) * box['width'] / size,
                              'y': (unit[0] + 0.5) * box['height'] / size})
    page.wait_for_function("() => document.querySelector('#field_text').innerText"
                           ".includes('theoretical field')", timeout=60000)
    text = page.locator('#field_text').inner_text()
    # the layer table's arithmetic: centre start + index * jump, side rf, clipped to the input
    rf, jump, start = row_table['rf'], row_table['jump'], row_table['start']
    first = [int(round(start + i * jump - rf / 2)) for i in unit]
    top, left = (max(0, f) for f in first)
    bottom, right = (min(RESIZE, f + rf) for f in first)
    assert f"unit (row {unit[0]}, column {unit[1]}) of {size}x{size}" in text
    assert f"theoretical field {rf}x{rf} px" in text
    assert f"rows {top}-{bottom - 1}, columns {left}-{right - 1}" in text
    # the red box drawn on the input: its outer edge covers those pixels, VIEW screen px each
    pixels = _image_pixels(page, '#field').astype(int)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    assert (rows[0], rows[-1] + 1) == (top * VIEW, bottom * VIEW)
    assert (cols[0], cols[-1] + 1) == (left * VIEW, right * VIEW)
    heat_map = _image_pixels(page, '#effective')
    assert heat_map.shape[:2] == (RESIZE * VIEW, RESIZE * VIEW) and heat_map.std() > 0


def test_the_run_section_shows_curve_confusion_and_mistakes(page):
    page.locator('#show_run').click()
    page.wait_for_function("() => document.querySelector('#run_text').innerText"
                           ".includes('test accuracy')", timeout=120000)
    text = page.locator('#run_text').inner_text()
    assert 'shipped model fast' in text and 'test accuracy 0.8985 on 10000 images' in text
    assert _image_pixels(page, '#curve').std() > 0
    assert _image_pixels(page, '#confusion').std() > 0
    assert page.locator('#wrong img').count() == 16
    assert 'read as' in page.locator('#wrong').inner_text()


def test_a_second_model_answers_beside_and_instead_of_the_first(page, tiny_run, fmnist, tmp_path,
                                                               capsys):
    path = tmp_path / 'test-0.png'
    Image.fromarray(fmnist['test'][0][0]).save(path)
    page.locator('#run_dir input, #run_dir textarea').first.fill(str(tiny_run))
    page.locator('#add_run').click()
    page.wait_for_function("() => document.querySelector('#add_note').innerText"
                           ".includes('loaded')", timeout=60000)
    page.locator('#go').click()              # fast, with the tiny run beside it
    assert _top1(page) == _predicted(capsys, '--model', 'fast', path)
    compared = page.locator('#compared')
    compared.get_by_text(_predicted(capsys, tiny_run, path)).first.wait_for(timeout=60000)
    _clear_top1(page)
    page.locator('#model input').first.click()
    page.get_by_role('option', name='tiny', exact=True).click()
    assert _top1(page) == _predicted(capsys, tiny_run, path)
    page.locator('#show_run').click()
    page.wait_for_function("() => document.querySelector('#run_text').innerText"
                           ".includes('2 epochs recorded')", timeout=120000)


def test_a_folder_that_is_no_run_gets_a_message_and_the_page_goes_on(page, tmp_path):
    (tmp_path / 'notes.txt').write_text('no run here\n')
    page.locator('#run_dir input, #run_dir textarea').first.fill(str(tmp_path))
    page.locator('#add_run').click()
    page.wait_for_function("() => document.querySelector('#add_note').innerText"
                           ".includes('Cannot load this run directory')", timeout=60000)
    assert 'not a run directory' in page.locator('#add_note').inner_text()
    page.locator('#go').click()
    assert _top1(page)


def _png_claiming(path, width, height):
    """A small valid PNG whose header says width x height (its CRC fixed): a bomb's header."""
    buffer = io.BytesIO()
    Image.new('L', (8, 8)).save(buffer, 'PNG')
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack('>II', width, height)
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def _truncated_png(path, item):
    buffer = io.BytesIO()
    Image.fromarray(item).save(buffer, 'PNG')
    path.write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])


BAD = {'empty.png': (lambda path, item: path.write_bytes(b''), 'empty file'),
       'truncated.png': (_truncated_png, 'cannot decode'),
       'bomb.png': (lambda path, item: _png_claiming(path, 20000, 20000),
                    'over the limit of 50,000,000 pixels')}


@pytest.mark.parametrize('name', list(BAD))
def test_a_bad_file_gets_a_message_and_the_page_goes_on(page, fmnist, tmp_path, name):
    make, message = BAD[name]
    path = tmp_path / name
    make(path, fmnist['test'][0][0])
    _upload(page, path)
    _note_says(page, 'Cannot use this input')
    note = page.locator('#note').inner_text()
    assert message in note and f"input: {name}: " in note       # the file as the user named it
    page.locator('#source').get_by_text('test set').click()
    page.locator('#go').click()
    assert _top1(page)                          # the next request is answered


def _sixteen_bit(path, item):
    Image.fromarray(item.astype(np.uint16) * 257).save(path)     # 65535 = 255 * 257


def _cmyk(path, item):
    Image.fromarray(item).convert('CMYK').save(path, 'TIFF')


def _animated(path, item, other):
    frames = [Image.fromarray(item), Image.fromarray(other)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=200, loop=0)


CONVERTED = {'16-bit.png': _sixteen_bit, 'cmyk.tiff': _cmyk, 'animated.gif': _animated}


@pytest.mark.parametrize('name', list(CONVERTED))
def test_a_16_bit_cmyk_or_animated_file_reads_as_its_8_bit_first_frame(page, fmnist, tmp_path,
                                                                       capsys, name):
    images = fmnist['test'][0]
    item, other = images[0], images[1]          # an ankle boot, then a pullover
    plain = tmp_path / 'plain.png'
    Image.fromarray(item).save(plain)
    path = tmp_path / name
    make = CONVERTED[name]
    make(path, item, other) if name == 'animated.gif' else make(path, item)
    expected = _predicted(capsys, '--model', 'fast', plain)
    if name == 'animated.gif':
        second = tmp_path / 'second.png'
        Image.fromarray(other).save(second)
        assert _predicted(capsys, '--model', 'fast', second) != expected
    _upload(page, path)
    assert _top1(page) == expected
    seen = _image_pixels(page, '#seen')[::8, ::8, 0]         # the 28x28 image, 8x enlarged
    assert np.array_equal(seen, item)


def test_the_predict_endpoint_returns_predicts_answer_as_json(server, fmnist, tmp_path, capsys):
    from gradio_client import Client, handle_file
    path = tmp_path / 'test-0.png'
    Image.fromarray(fmnist['test'][0][0]).save(path)
    bad = tmp_path / 'notes.txt'
    bad.write_text('not an image\n')
    expected = _predicted(capsys, '--model', 'fast', path)
    client = Client(server, verbose=False)
    answer = client.predict(handle_file(str(path)), 'fast', 'auto', api_name='/predict')
    assert answer['model'] == 'fast' and answer['inverted'] is False
    assert answer['top_k'][0]['label'] == expected and len(answer['top_k']) == 10
    assert abs(sum(t['probability'] for t in answer['top_k']) - 1) < 1e-4
    refused = client.predict(handle_file(str(bad)), 'fast', 'auto', api_name='/predict')
    assert refused == {'error': 'notes.txt: not an image Pillow can read (PNG, JPEG, ...)'}


def test_the_screenshot_script_saves_both_pictures(tmp_path):
    """scripts/screenshot_demo.py (docs/images/): its own server, closed at the end."""
    from PIL import ImageStat
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), 'scripts', 'screenshot_demo.py')
    done = subprocess.run([sys.executable, script, '--out', str(tmp_path), '--width', '1000'],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ('inside_vgg.png', 'inside_vgg_run.png'):
        path = tmp_path / name
        assert path.stat().st_size < 400 * 1024, name
        image = Image.open(path)
        assert image.width == 1000 and image.height > 600, (name, image.size)
        assert ImageStat.Stat(image.convert('L')).stddev[0] > 10, name
    assert 'Closing server' in done.stdout + done.stderr
