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
