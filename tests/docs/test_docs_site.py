"""The documentation site: ``mkdocs build --strict`` passes, its command-line page is
what every command's ``--help`` prints, its results (and the README's table) are what
results/ holds, the notebooks are there with their committed outputs, and the built
home page renders in Debian's chromium without asking any other host for anything.

Skipped, saying why, without the ``docs`` extra (mkdocs, Material, mkdocs-jupyter:
``scripts/setup.sh test`` installs it on the default python3), and the browser test
without Playwright or /usr/bin/chromium (``scripts/setup.sh test,browser``).
"""
import html
import html.parser
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

import pytest

from site_hooks import ROOT, hooks
CHROMIUM = '/usr/bin/chromium'
MISSING = [name for name in ('mkdocs', 'material', 'mkdocs_jupyter')
           if importlib.util.find_spec(name) is None]
pytestmark = [pytest.mark.slow,   # mkdocs and chromium run as processes
              pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}: the docs "
                                 f"extra (pip install -e '.[docs]'; scripts/setup.sh test)")]



@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """The site built by ``mkdocs build --strict`` into a temporary directory."""
    out = tmp_path_factory.mktemp('site')
    env = dict(os.environ, NO_MKDOCS_2_WARNING='1')
    done = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-f',
                           str(ROOT / 'mkdocs.yml'), '-d', str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'WARNING' not in done.stderr, done.stderr
    return out


class _CodeBlocks(html.parser.HTMLParser):
    """The text of every <pre> block of a page, tags dropped, entities decoded."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks, self._depth = [], 0

    def handle_starttag(self, tag, attrs):
        if tag == 'pre':
            self._depth += 1
            if self._depth == 1:
                self.blocks.append('')

    def handle_endtag(self, tag):
        if tag == 'pre':
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.blocks[-1] += data


def code_blocks(page):
    parser = _CodeBlocks()
    parser.feed(page.read_text())
    return parser.blocks


def test_the_site_builds_strict_with_every_page_in_the_navigation(site):
    for page in ('index', 'install', 'chapter', 'cli', 'recipes', 'family', 'memory',
                 'checkpoints', 'machines', 'performance', 'architecture', 'development'):
        assert (site / f'{page}.html').is_file(), page
    # the validation that makes --strict fail on a page left out of the nav or a dead link
    config = (ROOT / 'mkdocs.yml').read_text()
    for check in ('omitted_files: warn', 'unrecognized_links: warn', 'not_found: warn'):
        assert check in config


def test_a_broken_link_fails_the_strict_build(tmp_path):
    """The check above is not vacuous: the same configuration refuses a dead link."""
    docs = tmp_path / 'docs'
    # the folders the pages link into the repository through (relative symlinks)
    shutil.copytree(ROOT / 'docs', docs, symlinks=True,
                    ignore=shutil.ignore_patterns('notebooks', 'results'))
    (docs / 'notebooks').symlink_to(ROOT / 'notebooks')
    (docs / 'results').symlink_to(ROOT / 'results')
    (docs / 'benchmarks' / 'results').symlink_to(ROOT / 'benchmarks' / 'results')
    (docs / 'install.md').write_text((docs / 'install.md').read_text()
                                     + '\n[gone](no-such-page.md)\n')
    config = (ROOT / 'mkdocs.yml').read_text().replace('docs_dir: docs', f'docs_dir: {docs}')
    config = config.replace('  - docs/hooks.py', f"  - {ROOT / 'docs' / 'hooks.py'}")
    (tmp_path / 'mkdocs.yml').write_text(config)
    done = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-f',
                           str(tmp_path / 'mkdocs.yml'), '-d', str(tmp_path / 'site')],
                          cwd=ROOT, env=dict(os.environ, NO_MKDOCS_2_WARNING='1'),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert 'no-such-page.md' in done.stderr


def _help(*module):
    env = dict(os.environ, COLUMNS=hooks.HELP_COLUMNS)
    done = subprocess.run([sys.executable, '-m', *module, '--help'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_command_line_page_is_every_commands_help(site):
    blocks = [block.rstrip('\n') for block in code_blocks(site / 'cli.html')]
    assert _help('vgg_gluon').rstrip('\n') in blocks
    with_parser = 0
    for name, _ in hooks.commands():
        if hooks.command_help(name) is None:   # horovodrun: Horovod's own flags
            assert f'id="{name}"' in (site / 'cli.html').read_text(), name
            continue
        printed = _help(f'vgg_gluon.{name}').rstrip('\n')
        assert printed.startswith(f'usage: python -m vgg_gluon.{name}')
        assert printed in blocks, f'{name}: the page differs from python -m vgg_gluon.{name} --help'
        with_parser += 1
    assert with_parser >= 8


def test_the_results_come_from_results(site, tmp_path):
    table = hooks.results_table()
    page = (site / 'recipes.html').read_text()
    for name, record in hooks.measured().items():
        assert html.escape(record['command'], quote=False) in page, name
        assert record['cpu'] in page, name
    # a changed result changes the table: it is read, not written down
    shutil.copytree(ROOT / 'results', tmp_path / 'results')
    best = tmp_path / 'results' / 'best' / 'measured.json'
    record = json.loads(best.read_text())
    record['runs'][0]['test_acc'][str(record['epochs'])] = 0.5
    best.write_text(json.dumps(record))
    changed = hooks.results_table(tmp_path)
    assert '| 0.500 |' in changed and changed != table


def test_the_notebooks_are_rendered_with_their_committed_outputs(site):
    for notebook in sorted((ROOT / 'notebooks').glob('*.ipynb')):
        cells = json.loads(notebook.read_text())['cells']
        images = sum('image/png' in output.get('data', {}) for cell in cells
                     for output in cell.get('outputs', []))
        page = (site / 'notebooks' / f'{notebook.stem}.html').read_text()
        assert page.count('data:image/png;base64') >= images, notebook.name
    # the training notebook's page shows the epoch lines of the run its outputs came from
    nb = json.loads((ROOT / 'notebooks' / '02_training.ipynb').read_text())
    note = next(''.join(c['source']) for c in nb['cells']
                if 'parameters-of-these-outputs' in c['metadata'].get('tags', []))
    out_dir = re.search(r'out_dir = "([^"]+)"', note).group(1)
    log = (ROOT / 'notebooks' / out_dir / 'log.txt').read_text().splitlines()
    page = (site / 'notebooks' / '02_training.html').read_text()
    assert all(line.split(', time')[0] in page for line in log[1:]), out_dir


def test_the_site_names_no_other_host_to_load_from(site):
    """No web font, script or style from elsewhere (links for the reader are fine)."""
    loads = re.compile(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(https?:)?//', re.I)
    for page in site.rglob('*.html'):
        found = loads.search(page.read_text())
        assert found is None, f'{page.relative_to(site)}: {found.group(0)}'


BROWSER_MISSING = [what for what, ok in (('playwright', importlib.util.find_spec('playwright')),
                                         (CHROMIUM, os.path.exists(CHROMIUM))) if not ok]


@pytest.mark.skipif(bool(BROWSER_MISSING), reason=f"needs {', '.join(BROWSER_MISSING)} "
                    f"(scripts/setup.sh test,browser)")
def test_the_home_page_renders_in_chromium_and_is_not_blank(site, tmp_path):
    from PIL import Image, ImageStat
    from playwright.sync_api import sync_playwright
    args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run']
    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            page.on('request', lambda request: requests.append(request.url))
            page.goto((site / 'index.html').as_uri(), wait_until='load', timeout=60000)
            title = page.title()
            heading = page.inner_text('article h1')
            nav = page.locator('nav.md-nav--primary a').count()
            page.screenshot(path=str(tmp_path / 'home.png'))
        finally:
            browser.close()
    assert 'vgg_gluon' in title
    assert heading.strip()
    assert nav >= 10
    elsewhere = [url for url in requests if not url.startswith(('file://', 'data:'))]
    assert elsewhere == []
    image = Image.open(tmp_path / 'home.png').convert('L')
    assert image.size == (1280, 900)
    spread = ImageStat.Stat(image).stddev[0]
    assert spread > 10, f'the screenshot is nearly one colour (standard deviation {spread:.1f})'
    # text in more than one band of the page: a header bar alone is not a page
    rows = [statistics.pstdev(image.crop((0, y, 1280, y + 100)).getdata())
            for y in range(0, 900, 100)]
    assert sum(row > 5 for row in rows) >= 4, rows

