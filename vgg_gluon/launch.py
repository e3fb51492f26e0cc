"""``python -m vgg_gluon.launch``: start MXNet's parameter-server job.

    python -m vgg_gluon.launch -n 2 -s 1 -- python -m vgg_gluon.train --kvstore dist_sync ...

Starts one scheduler, SERVERS servers and WORKERS workers, each running the
same COMMAND with MXNet's ``DMLC_*`` environment (in MXNet 1.9 ``import mxnet``
in a scheduler or server process runs its loop and exits; workers run the
command). Locally everything listens on 127.0.0.1; with ``--hostfile`` the
processes are started over ssh on the listed hosts (scheduler on the first),
in the same directory. Each output line is prefixed with its role and index.

The job ends as a whole. When any process exits with an error or a signal,
when the scheduler or a server stops while workers still run, when a worker
reports no progress for ``--stall-timeout`` seconds (``python -m
vgg_gluon.train`` reports every batch, through its standard output), or when
``--timeout`` passes, every process is stopped (SIGTERM and SIGCONT to its
process group, SIGKILL after ``--grace`` seconds; over ssh, the remote process
is hung up) and the launcher prints one line naming the process and what
happened, then exits non-zero: the process's status (128 + N for signal N),
124 for a stall or a timeout.
"""
import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

from .cli import Parser, fail  # one-line usage errors, exit status 2
from .errors import Error
from .distributed import ALIVE_EVERY, PROGRESS_ENV, PROGRESS_PREFIX

PROG = 'python -m vgg_gluon.launch'
LOOPBACK = '127.0.0.1'
DEFAULT_REMOTE_PORT = 9091
# the local environment that remote processes get too
FORWARD_PREFIXES = ('DMLC_', 'MXNET_', 'PS_', 'OMP_', 'VGG_GLUON_')
DEFAULT_STALL_TIMEOUT = 600.0


class LaunchError(Error):
    """Bad launcher input; ``flag`` names the option."""


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _port(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, got {text!r}")
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def build_parser():
    p = Parser(prog=PROG, description=__doc__.split('\n')[0],
               usage=f"{PROG} -n WORKERS -s SERVERS [--hostfile FILE] [--port P] -- COMMAND ...",
               epilog=__doc__[__doc__.index('The job ends'):].strip().replace('``', ''),
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-n', '--num-workers', type=_positive, required=True, help='worker processes')
    p.add_argument('-s', '--num-servers', type=_positive, required=True, help='server processes')
    p.add_argument('--hostfile', help='one host per line (# comments); start processes there over ssh')
    p.add_argument('--port', type=_port, default=None,
                   help=f"scheduler port (default: a free one locally, {DEFAULT_REMOTE_PORT} with --hostfile)")
    p.add_argument('--grace', type=_seconds, default=10.0,
                   help='seconds between SIGTERM and SIGKILL when stopping (default 10)')
    p.add_argument('--timeout', type=_seconds, default=0.0,
                   help='stop the whole job after this many seconds (default 0: no limit)')
    p.add_argument('--stall-timeout', type=_seconds, default=DEFAULT_STALL_TIMEOUT,
                   help=f"stop the whole job when a worker has reported no progress for this "
                        f"many seconds, counted from its start (a hung or stopped process; "
                        f"python -m vgg_gluon.train reports each batch; default "
                        f"{DEFAULT_STALL_TIMEOUT:g}; 0: never, for a COMMAND that does not report)")
    p.add_argument('--ssh-config', metavar='FILE',
                   help='ssh configuration for --hostfile hosts (ssh -F FILE: user, port, key, '
                        'known hosts); default: ssh\'s own (~/.ssh/config)')
    return p


def parse_args(argv):
    """argv -> (options, command); the command follows ``--``."""
    argv = list(argv)
    if '--' not in argv:
        if {'-h', '--help'} & set(argv):
            build_parser().parse_args(['--help'])  # prints the help and exits 0
        build_parser().error("give the command to run after -- "
                             "(e.g. -- python -m vgg_gluon.train --kvstore dist_sync)")
    cut = argv.index('--')
    args = build_parser().parse_args(argv[:cut])
    command = argv[cut + 1:]
    if not command:
        build_parser().error("the command after -- is empty")
    return args, command


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
        from . import _threads  # importing vgg_gluon has set it: was it the user?
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


def ssh_command(host, env, command, cwd, config=None):
    """The ssh command line that runs ``command`` on ``host`` in ``cwd`` with ``env``.

    ``-tt``: the remote process gets a terminal, so it is hung up (SIGHUP) when
    the connection closes, i.e. when the launcher stops the local ssh.
    config: an ssh configuration file (``-F``) instead of ~/.ssh/config.
    """
    forwarded = {k: v for k, v in os.environ.items() if k.startswith(FORWARD_PREFIXES)}
    forwarded.update(env)
    assignments = ' '.join(f"{k}={shlex.quote(v)}" for k, v in sorted(forwarded.items()))
    remote = f"cd {shlex.quote(cwd)} && exec env {assignments} {shlex.join(command)}"
    options = ['-F', config] if config else []
    return ['ssh', '-tt', *options, '-o', 'BatchMode=yes', host, remote]


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

    def start(self, node, argv, env=None):
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, command = parse_args(argv)
    try:
        hosts = read_hostfile(args.hostfile) if args.hostfile else None
    except LaunchError as err:
        return fail(PROG, err)
    port = args.port or (DEFAULT_REMOTE_PORT if hosts else free_ports(1)[0])
    if args.ssh_config and not os.path.isfile(args.ssh_config):
        return fail(PROG, LaunchError(f"{args.ssh_config} is not a file", flag='ssh_config'))
    nodes = plan(args.num_workers, args.num_servers, port, hosts)
    job = Job(args.grace, args.stall_timeout)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):  # our children are in sessions of their own
        signal.signal(signum, on_signal)
    try:
        for node in nodes:
            if node.host is None:
                job.start(node, command, env=dict(os.environ, **node.env))
            else:
                job.start(node, ssh_command(node.host, node.env, command, os.getcwd(),
                                            args.ssh_config))
        return job.watch(args.timeout)
    except FileNotFoundError as err:
        job.stop()
        print(f"{PROG}: error: COMMAND: {err.strerror}: {err.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        signum = err.args[0] if err.args else signal.SIGINT
        return job.fail(f"interrupted by {signal.Signals(signum).name}", 128 + signum)


if __name__ == '__main__':
    sys.exit(main())
