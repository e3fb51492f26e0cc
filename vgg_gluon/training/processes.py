"""The processes of a parameter-server job: where each runs, starting them, watching
them, and ending the whole job when one fails (``python -m vgg_gluon.launch``).

``plan`` gives every node (scheduler, servers, workers) its ``DMLC_*``
environment; ``Job`` starts them (locally, or over ssh), prefixes their
output, follows the workers' progress reports and stops every process
when one fails, stalls or the time is up.
"""
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

from ..errors import Error, LaunchError

PROG = 'python -m vgg_gluon.launch'
LOOPBACK = '127.0.0.1'
DEFAULT_REMOTE_PORT = 9091
# the local environment that remote processes get too
FORWARD_PREFIXES = ('DMLC_', 'MXNET_', 'PS_', 'OMP_', 'VGG_GLUON_')
DEFAULT_STALL_TIMEOUT = 600.0

# Progress reports to python -m vgg_gluon.launch (its --stall-timeout): the
# launcher sets PROGRESS_ENV in every worker; a worker then writes lines
# PROGRESS_PREFIX + "N training epoch E batch B" (N: batches so far, testing
# ones too: "N testing pass P batch B") to its standard output after each
# batch, and PROGRESS_PREFIX + "alive" every ALIVE_EVERY seconds from a
# thread of its own: a worker waiting for the others stays alive, a stopped
# or frozen one goes silent. The launcher reads and hides these lines;
# standard output is the one channel that also crosses ssh.
PROGRESS_ENV = 'VGG_GLUON_PROGRESS'
PROGRESS_PREFIX = '@vgg_gluon.progress '
ALIVE_EVERY = 2.0


def read_hostfile(path):
    """Hosts, one a line; blank lines and # comments ignored."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise LaunchError(f"cannot read {path} ({err.strerror})", flag='hostfile') from None
    hosts = [line.split('#')[0].strip() for line in lines]
    hosts = [h for h in hosts if h]
    bad = [h for h in hosts if any(c.isspace() for c in h) or h.startswith('-')]
    if bad:
        raise LaunchError(f"{path}: {bad[0]!r} is not a host name", flag='hostfile')
    if not hosts:
        raise LaunchError(f"{path} lists no hosts", flag='hostfile')
    return hosts


def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1, ascending."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return sorted(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()


class Node:
    """One process to start: role, index, host (None: here), environment additions."""

    def __init__(self, role, index, host, env):
        self.role, self.index, self.host, self.env = role, index, host, env

    @property
    def label(self):
        name = self.role if self.role == 'scheduler' else f"{self.role} {self.index}"
        return f"{name}@{self.host}" if self.host else name


def plan(num_workers, num_servers, port, hosts=None):
    """The nodes of a job: scheduler, servers, workers with their DMLC_* variables.

    ps-lite numbers servers and workers by (host, port) once all have joined, so
    locally each gets a fixed ascending port (PORT): worker i is kvstore rank i.
    With hosts, the scheduler runs on the first and the others go round-robin.
    """
    local = hosts is None
    root = LOOPBACK if local else hosts[0]
    common = {'DMLC_PS_ROOT_URI': root, 'DMLC_PS_ROOT_PORT': str(port),
              'DMLC_NUM_SERVER': str(num_servers), 'DMLC_NUM_WORKER': str(num_workers),
              'PYTHONUNBUFFERED': '1'}
    if local:
        ports = free_ports(num_servers + num_workers + 1)
        ports = [p for p in ports if p != port][:num_servers + num_workers]
    else:
        ports = [port + 1 + i for i in range(num_servers + num_workers)]
    nodes = [Node('scheduler', 0, None if local else hosts[0],
                  dict(common, DMLC_ROLE='scheduler', DMLC_NODE_HOST=root))]
    for role, count, offset in (('server', num_servers, 0), ('worker', num_workers, num_servers)):
        for i in range(count):
            host = None if local else hosts[i % len(hosts)]
            nodes.append(Node(role, i, host, dict(
                common, DMLC_ROLE=role, DMLC_NODE_HOST=LOOPBACK if local else host,
                PORT=str(ports[offset + i]))))
            if role == 'worker':  # report progress to this launcher (--stall-timeout)
                nodes[-1].env[PROGRESS_ENV] = '1'
    if local:  # share the cores between local workers unless the user chose
        from .. import _threads  # importing vgg_gluon has set it: was it the user?
        threads = (os.environ['OMP_NUM_THREADS'] if _threads.USER_SET
                   else str(max(1, _cores() // num_workers)))
        for node in nodes:
            node.env['OMP_NUM_THREADS'] = threads
    return nodes


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# What runs on a remote host, started by ssh with no secrets on its command line:
# it reads one JSON line from its standard input (the ssh connection) giving
# the directory, the command and the environment to add, runs the command in a
# session of its own with that environment, and exits as the command did (a
# command killed by a signal kills this process with the same signal, so ssh
# reports it as before). When its standard input ends (the launcher stopped
# the local ssh, or died), it hangs the command up: SIGHUP and SIGCONT to its
# process group, SIGKILL after REMOTE_GRACE seconds.
REMOTE_GRACE = 10
REMOTE_BOOTSTRAP = f"""\
import json, os, signal, subprocess, sys, threading, time
spec = json.loads(sys.stdin.readline())
os.chdir(spec['cwd'])
child = subprocess.Popen(spec['argv'], env=dict(os.environ, **spec['env']),
                         stdin=subprocess.DEVNULL, start_new_session=True)
def hang_up():
    while os.read(0, 4096):
        pass
    for signals, wait in (((signal.SIGHUP, signal.SIGCONT), {REMOTE_GRACE}), ((signal.SIGKILL,), 0)):
        for sig in signals:
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + wait
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
threading.Thread(target=hang_up, daemon=True).start()
for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda n, f: os.killpg(child.pid, n))
rc = child.wait()
if rc < 0:
    if -rc not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(-rc, signal.SIG_DFL)
    os.kill(os.getpid(), -rc)
os._exit(rc)
"""


def forwarded_env(env):
    """What a remote process gets: the local DMLC_/MXNET_/PS_/OMP_/VGG_GLUON_
    variables, then ``env`` (its node's own)."""
    forwarded = {k: v for k, v in os.environ.items() if k.startswith(FORWARD_PREFIXES)}
    forwarded.update(env)
    return forwarded


def ssh_command(host, env, command, cwd, config=None, python=None):
    """(argv, stdin line): the ssh command that runs ``command`` on ``host`` in
    ``cwd`` with ``env``, and the line to write to its standard input.

    The environment travels in the stdin line, inside the encrypted connection,
    never on a command line (``ps`` on either host shows only ssh, the host and
    REMOTE_BOOTSTRAP). Keep ssh's standard input open while the job runs: when
    it closes, the remote command is hung up.
    python: the interpreter that runs REMOTE_BOOTSTRAP there (default: this
    one's path, the same path on the remote host, as for the command itself).
    config: an ssh configuration file (``-F``) instead of ~/.ssh/config.
    """
    spec = json.dumps({'cwd': cwd, 'argv': list(command), 'env': forwarded_env(env)})
    remote = f"exec {shlex.quote(python or sys.executable)} -c {shlex.quote(REMOTE_BOOTSTRAP)}"
    options = ['-F', config] if config else []
    return ['ssh', '-T', *options, '-o', 'BatchMode=yes', host, remote], spec + '\n'


class Job:
    """Running processes, their prefixed output, their progress, and the teardown.

    grace: seconds between SIGTERM and SIGKILL. stall_timeout: seconds a live
    worker may go without a progress report (0: no limit).
    """

    def __init__(self, grace, stall_timeout=0.0):
        self.grace, self.stall_timeout = grace, stall_timeout
        self.procs = []          # (node, Popen)
        self.pumps = []
        self.lock = threading.Lock()
        self.progress = {}       # label -> (time.monotonic() of the last report, batches, text)
        self.life = {}           # label -> time.monotonic() of the last sign of life

    def start(self, node, argv, env=None, stdin_line=None):
        """Start ``argv``; stdin_line: written to its standard input, which then
        stays open for as long as the process runs (ssh_command's protocol)."""
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL if stdin_line is None else subprocess.PIPE,
                                start_new_session=True)
        if stdin_line is not None:
            proc.stdin.write(stdin_line.encode())
            proc.stdin.flush()
        self.procs.append((node, proc))
        self.progress[node.label] = (time.monotonic(), 0, 'none yet')
        self.life[node.label] = time.monotonic()
        pump = threading.Thread(target=self._pump, args=(node.label, proc.stdout), daemon=True)
        pump.start()
        self.pumps.append(pump)

    def _pump(self, label, stream):
        for raw in iter(stream.readline, b''):
            line = raw.decode(errors='replace').rstrip('\r\n')
            if line.startswith(PROGRESS_PREFIX):  # for --stall-timeout, not for the user
                self._note(label, line[len(PROGRESS_PREFIX):])
                continue
            with self.lock:
                sys.stdout.write(f"[{label}] {line}\n")
                sys.stdout.flush()
        stream.close()

    def _note(self, label, report):
        """A worker's progress report: 'alive', or 'N what' after its N-th batch."""
        now = time.monotonic()
        self.life[label] = now
        count, _, what = report.partition(' ')
        if count.isdigit():
            self.progress[label] = (now, int(count), what)

    def say(self, message):
        with self.lock:
            print(f"{PROG}: {message}", file=sys.stderr, flush=True)

    def alive(self):
        return [(n, p) for n, p in self.procs if p.poll() is None]

    def stop(self):
        """SIGTERM (and SIGCONT, which a stopped process needs to act on it) to every
        live process group, SIGKILL to what is left after the grace period."""
        for signals, wait in (((signal.SIGTERM, signal.SIGCONT), self.grace),
                              ((signal.SIGKILL,), 5.0)):
            live = self.alive()
            if not live:
                break
            for _, proc in live:
                for sig in signals:
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + wait
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        for pump in self.pumps:
            pump.join(timeout=2)

    def fail(self, reason, status):
        """Stop the job, then print the one line that says why; returns ``status``."""
        count, start = len(self.alive()), time.monotonic()
        self.stop()
        left = len(self.alive())
        self.say(f"{reason}; stopped the job ({count} running process{'es' * (count != 1)}, "
                 f"{time.monotonic() - start:.0f} s)" + (f", {left} would not stop" if left else ''))
        return status

    def stalled(self):
        """Why the job is stuck, or None: a live worker without a progress report
        for stall_timeout seconds, and which process is the likeliest cause."""
        if not self.stall_timeout:
            return None
        now, limit = time.monotonic(), self.stall_timeout
        workers = [n for n, _ in self.alive() if n.role == 'worker']
        if not any(now - self.progress[n.label][0] > limit for n in workers):
            return None
        waited = f"no progress for {limit:g} s (--stall-timeout)"
        # 1. a stopped process (SIGSTOP, Ctrl-Z) of any role, here
        for node, proc in self.alive():
            if node.host is None and _process_state(proc.pid) == 'T':
                return f"{node.label} is stopped (process state T); the workers made {waited}"
        # 2. a worker without sign of life: stopped, frozen or cut off (the
        #    others, waiting for it in MXNet, keep saying that they are alive)
        silent = [n for n in workers if now - self.life[n.label] > 3 * ALIVE_EVERY]
        if silent:
            node = min(silent, key=lambda n: self.life[n.label])
            return (f"{node.label} shows no sign of life for {now - self.life[node.label]:.0f} s "
                    f"(stopped, frozen or cut off); the workers made {waited}")
        # 3. the worker furthest behind, if one is
        counts = {self.progress[n.label][1] for n in workers}
        node = min(workers, key=lambda n: self.progress[n.label][:2][::-1])
        since, _, what = self.progress[node.label]
        if len(counts) == 1:
            return (f"no worker made progress for {now - since:.0f} s (--stall-timeout "
                    f"{limit:g}; all at: {what}): a server or the scheduler may hang")
        return (f"{node.label} made no progress for {now - since:.0f} s (--stall-timeout "
                f"{limit:g}; it is at: {what}; the others got further)")

    def watch(self, timeout=0.0, poll=0.1):
        """Wait for the job; returns the exit status (0: every worker succeeded)."""
        start, server_gone = time.monotonic(), None
        while True:
            workers = [(n, p) for n, p in self.procs if n.role == 'worker']
            for node, proc in self.procs:
                rc = proc.poll()
                if rc is not None and rc != 0:
                    return self.fail(f"{node.label} exited with {_describe(rc, node.host)}",
                                     _status(rc))
            if all(p.poll() == 0 for _, p in workers):
                # the servers and scheduler finish once the workers have
                deadline = time.monotonic() + self.grace
                while self.alive() and time.monotonic() < deadline:
                    time.sleep(poll)
                if self.alive():
                    self.say("servers still running after every worker finished; stopping them")
                    self.stop()
                return 0
            # the scheduler and servers stop as the workers finish (a race); if
            # the workers do not follow within the grace period, they are stuck
            ended = [n for n, p in self.procs if n.role != 'worker' and p.poll() == 0]
            if ended and server_gone is None:
                server_gone = time.monotonic()
            if ended and time.monotonic() - server_gone > self.grace:
                return self.fail(f"{ended[0].label} exited with status 0 while workers were "
                                 f"running", 1)
            stuck = self.stalled()
            if stuck:
                return self.fail(stuck, 124)
            if timeout and time.monotonic() - start > timeout:
                return self.fail(f"still running after --timeout {timeout:g} s", 124)
            time.sleep(poll)


def _process_state(pid):
    """The state letter of a local process (R, S, D, T, Z, ...), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _describe(rc, host=None):
    """A return code in words; ``host``: the process ran there, through ssh."""
    if rc < 0:
        return f"signal {_signal_name(-rc)}"
    if host and rc == 255:
        return (f"status 255 (from ssh: the remote process was killed by a signal, or "
                f"{host} could not be reached)")
    if 128 < rc <= 128 + 64:
        return f"status {rc} (128 + {_signal_name(rc - 128)}: it stopped on that signal)"
    return f"status {rc}"


def _signal_name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _status(rc):
    """A child's return code as a shell exit status (signals as 128 + n)."""
    return 128 - rc if rc < 0 else rc
