"""The README: short, its results table the one docs/hooks.py makes from results/, and a
link to every page of the site (no mkdocs needed: it runs on every Python)."""
import re

from site_hooks import ROOT, hooks


def test_the_readme_is_short_shows_the_results_table_and_links_every_page():
    readme = (ROOT / 'README.md').read_text()
    assert len(readme.splitlines()) <= 150
    assert hooks.results_table() in readme, \
        'README.md: the results table differs from results/ (make it with docs/hooks.py)'
    nav_pages = re.findall(r':\s*(\w+\.md)\s*$', (ROOT / 'mkdocs.yml').read_text(), re.M)
    assert len(nav_pages) >= 12
    for page in nav_pages:
        if page != 'index.md':
            assert f'(docs/{page})' in readme, f'README.md does not link docs/{page}'
    for target in re.findall(r'\]\(((?!https?:)[^)#]+)', readme):
        assert (ROOT / target).exists(), f'README.md links {target}, which does not exist'


def test_a_live_page_frame_becomes_the_screenshot_and_a_note():
    frame = ('<div><iframe allow="autoplay" frameborder="0" height="500" '
             'src="http://127.0.0.1:7860/"></iframe></div>')
    page = hooks.live_page_stand_in(frame, 'notebooks/06_inside_vgg.html')
    assert '<iframe' not in page and 'http://127.0.0.1:7860/' in page
    assert 'src="../images/inside_vgg.png"' in page and 'href="../demo.html"' in page
    assert (ROOT / 'docs' / hooks.LIVE_PICTURE).exists()
    page = hooks.live_page_stand_in(frame, 'notebooks/06_inside_vgg/', directory_urls=True)
    assert 'src="../../images/inside_vgg.png"' in page and 'href="../../demo/"' in page
    elsewhere = '<iframe src="https://example.org/"></iframe>'
    assert hooks.live_page_stand_in(elsewhere, 'index.html') == elsewhere   # the test's to find
