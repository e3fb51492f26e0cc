"""Re-take the Inside VGG page's screenshots in docs/images/ (README.md and docs/demo.md show them).

    flock /tmp/cpu.lock .venv/bin/python scripts/screenshot_demo.py            # both PNGs
    .venv/bin/python scripts/screenshot_demo.py --out /tmp/shots --label bag --index 3

Serves the page in this process (page.build_page and page.serve, as ``vgg-gluon demo``
does) with the shipped ``fast`` model on a free 127.0.0.1 port, drives Debian's
chromium (/usr/bin/chromium) with Playwright, and saves two PNGs:

  inside_vgg.png      the whole page, the run section folded: a test-set image picked
                      in the class picker, its answer and block shapes, a block's
                      feature maps, and a unit clicked on its mean map, so the
                      theoretical field (red box) and the effective one (heat map) show
  inside_vgg_run.png  the run section, opened and shown: the learning curve, the
                      confusion matrix and the most confidently wrong test images,
                      down to the "add a run directory" box (cut from the full page)

Each PNG is written with Pillow's optimizer and, if it is still over --max-kb,
reduced to 256 colours (the page is mostly flat UI colours, so that loses little).
The server is closed at the end, also on failure. Nothing is fetched from another
host; the run section's test-set summary is cached in a temporary folder.
Needs the demo and browser extras (Gradio, Playwright) and /usr/bin/chromium.
"""
import argparse
import io
import os
import socket
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # the page of this checkout, not of an installed vgg_gluon

CHROMIUM = '/usr/bin/chromium'
# as tests/visual/test_browser.py: no background traffic (the machine may be offline)
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run']
TIMEOUT = 120000   # ms; the run section passes the whole test set through the network once


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def save_png(data, path, max_kb):
    """Write screenshot bytes ``data`` to ``path``, small; its size in KB."""
    from PIL import Image
    image = Image.open(io.BytesIO(data)).convert('RGB')
    image.save(path, optimize=True)
    if os.path.getsize(path) > max_kb * 1024:
        # no dithering: flat UI colours stay flat, and the maps' grey levels fit in 256
        image.quantize(256, method=Image.Quantize.MEDIANCUT,
                       dither=Image.Dither.NONE).save(path, optimize=True)
    return os.path.getsize(path) / 1024


def wait_images_loaded(page, selector):
    """Until every <img> under ``selector`` has decoded (a screenshot shows no blank tile)."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s + ' img')].every(i => i.complete && "
        "i.naturalWidth > 0)", arg=selector, timeout=TIMEOUT)


def drive(url, out, args):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': args.width, 'height': 900})
            page.goto(url, wait_until='load', timeout=TIMEOUT)
            page.locator('#go').wait_for(timeout=TIMEOUT)
            # the test-set picker in view (the draw tab is the first one), a class and an index
            page.get_by_role('tab', name='test set').click()
            page.locator('#label input').first.click()
            page.get_by_role('option', name=args.label, exact=True).click()
            number = page.locator('#index input').first
            number.fill(str(args.index))
            number.press('Enter')
            page.locator('#go').click()
            page.wait_for_function("() => document.querySelector('#note').innerText"
                                   ".includes('test image')", timeout=TIMEOUT)
            page.locator('#block').get_by_text(str(args.block), exact=True).click()
            page.wait_for_timeout(1500)          # the block's maps replaced
            clickable = page.locator('#clickable img').first
            wait_images_loaded(page, '#clickable')
            box = clickable.bounding_box()
            size = args.size_of_block
            clickable.click(position={'x': (args.unit[1] + 0.5) * box['width'] / size,
                                      'y': (args.unit[0] + 0.5) * box['height'] / size})
            page.wait_for_function("() => document.querySelector('#field_text').innerText"
                                   ".includes('theoretical field')", timeout=TIMEOUT)
            for selector in ('#seen', '#maps', '#field', '#effective', '#filters'):
                wait_images_loaded(page, selector)
            run_header = page.get_by_text('the run: learning curve', exact=False).first
            run_header.click()                   # folded: the first picture is the inside
            page.wait_for_timeout(800)
            kb = save_png(page.screenshot(full_page=True), os.path.join(out, 'inside_vgg.png'),
                          args.max_kb)
            print(f"{out}/inside_vgg.png: {kb:.0f} KB", flush=True)

            run_header.click()                   # unfolded again, then filled
            page.locator('#show_run').click()
            page.wait_for_function("() => document.querySelector('#run_text').innerText"
                                   ".includes('test accuracy')", timeout=TIMEOUT)
            page.wait_for_function("() => document.querySelectorAll('#wrong img').length >= 16",
                                   timeout=TIMEOUT)
            for selector in ('#curve', '#confusion', '#wrong'):
                wait_images_loaded(page, selector)
            page.wait_for_timeout(500)
            top = run_header.bounding_box()['y'] + page.evaluate('window.scrollY') - 12
            bottom = page.evaluate("() => { const r = document.querySelector('#add_note')"
                                   ".getBoundingClientRect(); return r.bottom + "
                                   "window.scrollY; }") + 16
            clip = {'x': 0, 'y': top, 'width': args.width, 'height': bottom - top}
            kb = save_png(page.screenshot(full_page=True, clip=clip),
                          os.path.join(out, 'inside_vgg_run.png'), args.max_kb)
            print(f"{out}/inside_vgg_run.png: {kb:.0f} KB", flush=True)
        finally:
            browser.close()


def unit_arg(text):
    row, col = (int(v) for v in text.split(','))
    return row, col


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=os.path.join(ROOT, 'docs', 'images'),
                   help='where the PNGs go (default: docs/images of this checkout)')
    p.add_argument('--label', default='sneaker', help="the test-set picker's class (or 'any')")
    p.add_argument('--index', type=int, default=0, help='which image of that class')
    p.add_argument('--block', type=int, default=2, help='the block whose map is clicked')
    p.add_argument('--unit', type=unit_arg, default=(3, 4), metavar='ROW,COL',
                   help="the unit clicked on that block's map (default 3,4: near the "
                        "centre of block 2's 7x7)")
    p.add_argument('--width', type=int, default=1200, help='the browser window width (px)')
    p.add_argument('--max-kb', type=int, default=300,
                   help='above this a PNG is reduced to 256 colours')
    p.add_argument('--data-dir', default=None, help='Fashion-MNIST IDX files (default: the '
                                                    'usual places)')
    args = p.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        p.error(f"needs {CHROMIUM} (Debian's chromium)")
    os.makedirs(args.out, exist_ok=True)

    import vgg_gluon  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
    import mxnet as mx
    from vgg_gluon.checkpoint.zoo import load_shipped
    from vgg_gluon.visual.inside import blocks_of
    from vgg_gluon.visual.page import Session, build_page, serve
    ctx = mx.cpu()
    run = load_shipped('fast', ctx=ctx)
    blocks = blocks_of(run.net, run.config)
    if not 1 <= args.block <= len(blocks):
        p.error(f"--block: the shipped model has blocks 1-{len(blocks)}")
    args.size_of_block = blocks[args.block - 1]['output_shape'][1]
    if not all(0 <= v < args.size_of_block for v in args.unit):
        p.error(f"--unit: block {args.block}'s map is {args.size_of_block}x{args.size_of_block}")
    with tempfile.TemporaryDirectory(prefix='screenshot_demo_') as cache:
        page = build_page(Session({'fast': run}, ctx, args.data_dir, cache_dir=cache))
        port = free_port()
        serve(page, '127.0.0.1', port, block=False)
        try:
            drive(f'http://127.0.0.1:{port}/', args.out, args)
        finally:
            page.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
