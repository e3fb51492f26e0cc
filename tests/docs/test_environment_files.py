"""The conda files install one MXNet each, and pin what pyproject.toml pins.

environment.yml installs mxnet-cu112 and leaves the package to ``pip install
--no-deps -e .``: listed there, ``-e .`` would pull pyproject.toml's
``mxnet==1.9.1`` (the CPU build) into the same ``mxnet/`` folder.
"""
import pathlib
import re
import sys

import pytest

yaml = pytest.importorskip('yaml', reason='needs PyYAML (papermill, in the test extras, brings it)')
packaging = pytest.importorskip('packaging.requirements', reason='needs packaging')
from packaging.requirements import Requirement  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
MXNET = re.compile(r'^mxnet(-cu\d+|-mkl|-native)?$')


def pip_entries(name):
    spec = yaml.safe_load((ROOT / name).read_text())
    python = next(d for d in spec['dependencies'] if isinstance(d, str) and d.startswith('python='))
    pip = next(d['pip'] for d in spec['dependencies'] if isinstance(d, dict))
    return python.split('=')[1], pip


def pyproject_pins(python):
    """{name: 'X.Y.Z'} of the package's own dependencies on that Python (markers evaluated)."""
    text = (ROOT / 'pyproject.toml').read_text()
    block = text.split('dependencies = [', 1)[1].split(']', 1)[0]
    pins = {}
    for line in re.findall(r'^\s*"([^"]+)",', block, re.M):
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({'python_version': python}):
            pins[req.name.lower()] = str(req.specifier).lstrip('=')
    return pins


@pytest.mark.parametrize('name', ['environment.yml', 'environment-cpu.yml'])
def test_one_mxnet_and_the_packages_pins(name):
    python, pip = pip_entries(name)
    requirements = [Requirement(entry) for entry in pip if not entry.startswith('-')]
    mxnets = [req.name for req in requirements if MXNET.match(req.name.lower())]
    assert len(mxnets) == 1, f'{name}: {mxnets}'
    listed = {req.name.lower(): str(req.specifier).lstrip('=') for req in requirements}
    for dist, version in pyproject_pins(python).items():
        if dist == 'mxnet':
            continue
        assert listed.get(dist) == version, f'{name}: {dist} {listed.get(dist)}, pyproject.toml {version}'
    editable = '-e .' in pip
    if mxnets[0] == 'mxnet':
        assert listed['mxnet'] == pyproject_pins(python)['mxnet']
    else:
        # another build of MXNet: the package must come without its mxnet pin
        assert not editable, f'{name}: -e . would install mxnet beside {mxnets[0]}'
        assert 'pip install --no-deps -e .' in (ROOT / name).read_text()


def test_the_check_sees_two_mxnets(tmp_path, monkeypatch):
    """The check is not vacuous: the file as it was (mxnet-cu112 and -e .) is refused."""
    text = (ROOT / 'environment.yml').read_text() + '      - -e .\n'
    (tmp_path / 'environment.yml').write_text(text)
    (tmp_path / 'pyproject.toml').write_text((ROOT / 'pyproject.toml').read_text())
    monkeypatch.setattr(sys.modules[__name__], 'ROOT', tmp_path)
    with pytest.raises(AssertionError, match='-e . would install mxnet'):
        test_one_mxnet_and_the_packages_pins('environment.yml')
