"""``vgg-gluon demo``'s refusals in a real process: a busy port, a folder that is no run.

Each gives one line naming the flag or the folder, exit status 2, no traceback,
and no page is served.
"""
import importlib.util
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec('gradio') is None,
                                reason='needs gradio (scripts/setup.sh test)')


def _demo(*args):
    return subprocess.run([sys.executable, '-m', 'vgg_gluon.demo', *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_a_busy_port_gives_one_line_and_status_2():
    with socket.socket() as held:
        held.bind(('127.0.0.1', 0))
        held.listen()
        port = held.getsockname()[1]
        proc = _demo('--port', port)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert '--port' in lines[0] and f'127.0.0.1:{port} is in use' in lines[0]
    assert 'serving' not in proc.stdout


def test_a_folder_that_is_no_run_gives_one_line_and_status_2(tmp_path):
    (tmp_path / 'notes.txt').write_text('no run here\n')
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    proc = _demo(tmp_path, '--port', port)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert str(tmp_path) in lines[0] and 'not a run directory' in lines[0]
