"""`make reproduce` from a clean clone: it refuses a finished run before it sets anything up,
and, when it may go on, sets up and executes 01, 04 and 02 as the README says.

Each test works in a clone-like copy of this checkout (its tracked and new files, no .venv,
no runs/) in a temporary directory and runs the real make and the real scripts/reproduce.sh.
The hour-long training never runs: where the run may go on, the Python (PY) is a stub that
records how papermill is called, and so is the set-up script (SETUP).
"""
import datetime
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow,   # processes: make, bash, a copy of the checkout
              pytest.mark.skipif(shutil.which('make') is None, reason='needs make')]
VERSION = '%d.%d' % sys.version_info[:2]


@pytest.fixture
def clone(tmp_path):
    """What `git clone` of this checkout, with its changes committed, would hold."""
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split('\0')
    dest = tmp_path / 'clone'
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file() or src.is_symlink():   # a tracked file deleted in the checkout is not
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name, follow_symlinks=False)
    assert (dest / 'results' / 'seed000' / 'metrics.json').is_file()
    assert not any(p.name.startswith('.venv') for p in dest.iterdir())
    return dest


def snapshot(directory):
    return {p.relative_to(directory): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(directory.rglob('*')) if p.is_file()}


def run(command, cwd, env=None, timeout=30):
    """command in its own process group; the whole group is killed if it outlives timeout
    (a reproduce that went on to set up would build an environment: pip, apt)."""
    mine = ('OUT', 'FORCE', 'PY', 'PYTHON', 'KERNEL', 'SETUP', 'MAKEFLAGS', 'MAKELEVEL')
    env = dict({k: v for k, v in os.environ.items() if k not in mine}, **(env or {}))
    # a reproduce that wrongly went on to set up would register its kernel (ipykernel
    # install --user): into the clone's own Jupyter directory, never the user's vgg-gluon
    env['JUPYTER_DATA_DIR'] = str(pathlib.Path(cwd).parent / 'jupyter')
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f'{" ".join(command)} was still running after {timeout} s: it did not refuse')
    return proc.returncode, out, err


def own_lines(stderr):
    """stderr without make's own trailer (make: *** [Makefile:N: reproduce] Error 2)."""
    return [line for line in stderr.splitlines() if not line.startswith('make')]


REFUSAL = 'reproduce: OUT=results/seed000 exists and is not empty'


@pytest.mark.parametrize('python', [None, sys.executable], ids=['default', 'PYTHON'])
def test_make_reproduce_refuses_the_committed_run_before_any_set_up(clone, python):
    before = snapshot(clone)
    args = ['make', 'reproduce', 'OUT=results/seed000'] + ([f'PYTHON={python}'] if python else [])
    code, out, err = run(args, clone)
    assert code == 2, (out, err)
    lines = own_lines(err)
    assert len(lines) == 1 and lines[0].startswith(REFUSAL), err
    assert 'FORCE=1' in lines[0] and out == ''
    # nothing was set up: no environment (scripts/setup.sh makes .venv or .venv-X.Y
    # first thing after the data), and not a file of the clone changed or added
    assert not any(p.name.startswith('.venv') for p in clone.iterdir())
    assert snapshot(clone) == before


def test_the_script_itself_refuses_with_one_line_and_exit_2(clone):
    before = snapshot(clone)
    code, out, err = run(['scripts/reproduce.sh'], clone, env={'OUT': 'results/seed000'})
    assert (code, out, len(err.splitlines())) == (2, '', 1), err
    assert err.startswith(REFUSAL)
    (clone / 'results' / 'afile').write_text('x')   # an OUT that is a file: refused even with FORCE
    code, out, err = run(['scripts/reproduce.sh'], clone, env={'OUT': 'results/afile', 'FORCE': '1'})
    assert (code, len(err.splitlines())) == (2, 1) and 'not a directory' in err
    assert not (clone / '.venv').exists()
    assert snapshot(clone).keys() == before.keys() | {pathlib.Path('results/afile')}


@pytest.fixture
def stubs(tmp_path):
    """A Python and a set-up script that only say how they were called (into calls.log)."""
    log = tmp_path / 'calls.log'
    py = tmp_path / 'python'
    py.write_text('#!/bin/sh\n'
                  f'echo "py $(pwd) $*" >> {log}\n'
                  'echo "stub papermill: $*"\n')   # what tee writes to papermill.log
    setup = tmp_path / 'setup.sh'
    setup.write_text(f'#!/bin/sh\necho "setup $(pwd) $* PYTHON=$PYTHON" >> {log}\n')
    for stub in (py, setup):
        stub.chmod(0o755)
    return log, py, setup


def calls(log):
    return [line.split(' ', 2) for line in log.read_text().splitlines()]


def expected_papermill(clone, out, kernel):
    common = ['-m', 'papermill', '--cwd', 'notebooks', '-k', kernel]
    return [
        common + ['notebooks/01_blocks.ipynb', 'notebooks/01_blocks.ipynb',
                  '-p', 'out_dir', f'../{out}/blocks'],
        common + ['notebooks/04_exercises.ipynb', 'notebooks/04_exercises.ipynb',
                  '-p', 'out_dir', f'../{out}/exercises'],
        common + ['--log-output', 'notebooks/02_training.ipynb', 'notebooks/02_training.ipynb',
                  '-p', 'out_dir', f'../{out}', '-p', 'full', 'True'],
        ['scripts/record_parameters.py', 'notebooks/01_blocks.ipynb',
         'notebooks/04_exercises.ipynb', 'notebooks/02_training.ipynb'],
    ]


@pytest.mark.parametrize('python', [None, sys.executable], ids=['default', 'PYTHON'])
def test_force_overwrites_after_setting_up_and_runs_01_04_02(clone, stubs, python):
    log, py, setup = stubs
    kept = {k: v for k, v in snapshot(clone / 'results' / 'seed000').items()
            if k.name not in ('wall_time.txt', 'papermill.log')}
    args = ['make', 'reproduce', 'OUT=results/seed000', 'FORCE=1', f'PY={py}']
    code, out, err = run(args + ([f'PYTHON={python}'] if python else []), clone,
                         env={'SETUP': str(setup)})
    assert code == 0, err
    made = calls(log)
    # set up first, with the test extras only (no Horovod), in the clone
    assert made[0] == ['setup', str(clone), f'test PYTHON={python or ""}']
    kernel = f'vgg-gluon-{VERSION}' if python else 'vgg-gluon'
    assert [c[0] for c in made[1:]] == ['py'] * 4 and {c[1] for c in made[1:]} == {str(clone)}
    assert [c[2].split() for c in made[1:]] == expected_papermill(clone, 'results/seed000', kernel)
    # logged and timed as before: 02's output in papermill.log, the wall time and the CPU
    result = clone / 'results' / 'seed000'
    assert '--log-output notebooks/02_training.ipynb' in (result / 'papermill.log').read_text()
    timing = (result / 'wall_time.txt').read_text().splitlines()
    assert timing[0].startswith('started  ') and timing[1].startswith('finished ')
    assert timing[2].startswith('wall time ') and timing[3].startswith(f'machine: {os.cpu_count()} cores')
    assert out.endswith((result / 'wall_time.txt').read_text())
    # the stub wrote nothing else: the run's other files are untouched
    assert {k: v for k, v in snapshot(result).items() if k in kept} == kept


def test_the_default_out_is_a_new_dated_directory(clone, stubs):
    log, py, setup = stubs
    for committed in (clone / 'results').glob('seed000-*'):   # a committed reproduction
        shutil.rmtree(committed)
    days = {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')}
    code, out, err = run(['make', 'reproduce', f'PY={py}'], clone, env={'SETUP': str(setup)})
    days.add(datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d'))
    assert code == 0, err
    made = [c for c in (clone / 'results').iterdir() if c.name.startswith('seed000-')]
    assert len(made) == 1 and made[0].name[len('seed000-'):] in days
    out_dir = f'results/{made[0].name}'
    assert [c[2].split() for c in calls(log)[1:]] == expected_papermill(clone, out_dir, 'vgg-gluon')
    assert (made[0] / 'wall_time.txt').is_file()
    # and a second run the same day is refused, before its set-up
    log.unlink()
    code, out, err = run(['make', 'reproduce', f'PY={py}'], clone, env={'SETUP': str(setup)})
    assert code == 2 and own_lines(err) == [
        f'reproduce: OUT={out_dir} exists and is not empty; give a new OUT=DIR, or FORCE=1 to '
        f'overwrite it (nothing was set up or changed)']
    assert not log.exists()


def test_an_empty_out_is_taken_without_force(clone, stubs):
    log, py, setup = stubs
    (clone / 'results' / 'empty').mkdir()
    code, out, err = run(['make', 'reproduce', 'OUT=results/empty', f'PY={py}'], clone,
                         env={'SETUP': str(setup)})
    assert code == 0, err
    assert (clone / 'results' / 'empty' / 'wall_time.txt').is_file()
