"""The Inside VGG page in a real browser: Debian's chromium driven by Playwright,
against ``vgg-gluon demo`` serving the shipped ``fast`` model on 127.0.0.1.

Skipped, saying why, where the ``browser`` extra or /usr/bin/chromium is
missing (``scripts/setup.sh test`` installs them for the default python3).
"""
import importlib.util
import os
import socket
import subprocess
import sys
import time

import pytest
from PIL import Image

from vgg_gluon import predict

CHROMIUM = '/usr/bin/chromium'
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
def server(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp('demo') / 'log'
    with open(log, 'w') as out:
        proc = subprocess.Popen([sys.executable, '-m', 'vgg_gluon.demo', '--port', str(port)],
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
