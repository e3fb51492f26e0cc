"""Faults in a parameter-server job on loopback: a process of the job killed,
stopped or ending before it joins ends the whole job, with one launcher line
naming it, and leaves no process behind."""
import os
import re
import signal
import subprocess
import time

import pytest

from launch_helpers import PY, TINY, end_of, job_pids, run_job, start_job, wait_for

pytestmark = pytest.mark.slow   # every test starts a job


@pytest.mark.parametrize('role, signum, status, line', [
    ('worker', signal.SIGKILL, 137, r'worker \d exited with signal SIGKILL'),
    ('server', signal.SIGKILL, 137, r'server 0 exited with signal SIGKILL'),
    ('scheduler', signal.SIGKILL, 137, r'scheduler exited with signal SIGKILL'),
    ('worker', signal.SIGTERM, 143, r'worker \d exited with status 143 \(128 \+ SIGTERM'),
    # a worker that stops responding: no progress report for --stall-timeout
    ('worker', signal.SIGSTOP, 124, r'worker \d is stopped \(process state T\); the '
                                    r'workers made no progress for 20 s'),
])
def test_a_fault_ends_the_whole_job(role, signum, status, line, tmp_path):
    """Any process of the job killed, or a worker hung, while training: the whole
    job ends with a non-zero status, one launcher line names the process and
    what happened, and no process of the job is left."""
    cmd = [PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--grace', '3',
           '--stall-timeout', '20', '--', PY, *TINY, '--epochs', '1000', '--kvstore', 'dist_sync',
           '--out', str(tmp_path / 'run')]
    proc, marker, out, err = start_job(cmd, tmp_path)
    started = wait_for(tmp_path / 'out.txt', 'training on', proc)
    time.sleep(1)  # in the middle of an epoch
    victims = sorted(pid for pid, env in job_pids(marker)
                     if f'DMLC_ROLE={role}'.encode() in env)
    if started and victims:
        os.kill(victims[-1], signum)
    rc, stdout, stderr, left = end_of(proc, marker, out, err, 120)
    assert started and victims, stdout + stderr
    assert rc == status, stdout + stderr
    lines = stderr.strip().splitlines()   # the launcher's own lines
    assert len(lines) == 1 and re.search(line, lines[0]), stderr
    assert 'stopped the job' in lines[0] and 'would not stop' not in lines[0]
    assert left == [], f"{len(left)} processes of the job left running"


def test_workers_failing_at_start_end_the_job():
    # bad training flags: both workers exit 2 before joining; the launcher must
    # not wait for them forever
    result = run_job([PY, '-m', 'vgg_gluon.launch', '-n', '2', '-s', '1', '--grace', '3', '--',
                      PY, '-m', 'vgg_gluon.train', '--epochs', '0', '--kvstore', 'dist_sync'],
                     timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert '--epochs' in result.stdout


def test_a_servers_failing_step_ends_the_server_in_one_line():
    """MXNet calls the servers' optimizer through a ctypes callback, which
    prints an exception and goes on serving weights never updated; our
    optimizers end the server instead (the launcher then ends the job, as above)."""
    # vgg_gluon first: it fits numpy >= 1.24 for MXNet before MXNet loads (_compat)
    code = ("from vgg_gluon.training.distributed import SGD\n"
            "import mxnet as mx\n"
            "SGD(learning_rate=0.1).update_multi_precision(0, mx.nd.zeros(3), mx.nd.zeros(4), None)\n"
            "print('went on')\n")
    result = subprocess.run([PY, '-c', code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 70, result.stdout + result.stderr
    assert 'went on' not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "server: the optimizer's step for key 0 failed" in lines[0], \
        result.stderr
