"""``python -m vgg_gluon.launch``: start MXNet's parameter-server job.

    vgg-gluon launch -n 2 -s 1 train --kvstore dist_sync ...
    python -m vgg_gluon.launch -n 2 -s 1 -- python -m vgg_gluon.train --kvstore dist_sync ...

COMMAND runs under the interpreter this launcher runs under, whatever PATH
says: a leading ``train`` (or another vgg-gluon command) becomes
``<this python> -m vgg_gluon.train``, and a leading ``python``, ``python3``
or ``python3.X`` becomes this interpreter (over ssh, the same path on the
remote host). Any other COMMAND runs as given.

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
import re
import signal
import sys

from .cli.arguments import Parser, doc_summary, fail, prog, report
from .errors import LaunchError, VGGGluonError
from .training.processes import (DEFAULT_REMOTE_PORT, DEFAULT_STALL_TIMEOUT, Job, free_ports,
                                 plan, read_hostfile, ssh_command)

# what `vgg-gluon launch ... NAME ARGS` may start (the commands a worker runs)
COMMAND_NAMES = ('train', 'evaluate', 'predict', 'export', 'testtime', 'summary')
_PYTHON = re.compile(r'python(3(\.\d+)?)?$')
# launcher options that take a value (to find where COMMAND starts without --)
_VALUED = {'-n', '--num-workers', '-s', '--num-servers', '--hostfile', '--port', '--grace',
           '--timeout', '--stall-timeout', '--ssh-config'}
# Printed once when COMMAND asks for dist_async (see async_note).
ASYNC_NOTE = ("note: with dist_async each worker's push is one optimizer step of its own on "
              "the server (MXNet's src/kvstore/kvstore_dist_server.h, "
              "KVStoreDistServer::DataHandleDefault, its async branch), taken with a gradient "
              "computed before the other workers' latest steps, and it learns far less than one "
              "process or dist_sync (measured in docs/machines.md, its known limits): "
              "prefer dist_sync")


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
    name = prog('launch')
    p = Parser(prog=name, description=doc_summary(__doc__),
               usage=f"{name} -n WORKERS -s SERVERS [--hostfile FILE] [--port P] [--] COMMAND ...",
               epilog=__doc__.split('\n', 1)[1].strip().replace('``', ''))
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


def _command_start(argv):
    """Where COMMAND starts: after ``--``, else at the first word that is not an
    option or an option's value; len(argv) when there is none."""
    if '--' in argv:
        return argv.index('--')
    i = 0
    while i < len(argv) and argv[i].startswith('-'):
        i += 2 if argv[i] in _VALUED else 1
    return i


def this_python(command):
    """COMMAND with a leading vgg-gluon command or ``python`` run by this interpreter."""
    if command[0] in COMMAND_NAMES:
        return [sys.executable, '-m', f'vgg_gluon.{command[0]}'] + command[1:]
    if _PYTHON.match(os.path.basename(command[0])):
        return [sys.executable] + command[1:]
    return command


def async_note(command):
    """ASYNC_NOTE when ``command`` trains with --kvstore dist_async, else None."""
    for i, word in enumerate(command):
        if word == '--kvstore=dist_async' or (word == '--kvstore' and
                                              command[i + 1:i + 2] == ['dist_async']):
            return ASYNC_NOTE
    return None


def parse_args(argv):
    """argv -> (options, command); the command follows ``--`` or the options."""
    argv = list(argv)
    cut = _command_start(argv)
    args = build_parser().parse_args(argv[:cut])
    command = argv[cut + 1:] if cut < len(argv) and argv[cut] == '--' else argv[cut:]
    if not command:
        build_parser().error("give the command to run after the options (e.g. train "
                             "--kvstore dist_sync, or -- python -m vgg_gluon.train ...)")
    return args, this_python(command)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, command = parse_args(argv)
    try:
        hosts = read_hostfile(args.hostfile) if args.hostfile else None
    except VGGGluonError as err:
        return report(prog('launch'), err)
    port = args.port or (DEFAULT_REMOTE_PORT if hosts else free_ports(1)[0])
    if args.ssh_config and not os.path.isfile(args.ssh_config):
        return fail(prog('launch'), LaunchError(f"{args.ssh_config} is not a file", flag='ssh_config'))
    nodes = plan(args.num_workers, args.num_servers, port, hosts)
    note = async_note(command) if args.num_workers > 1 else None
    if note:
        print(f"{prog('launch')}: {note}", file=sys.stderr, flush=True)
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
                argv, stdin_line = ssh_command(node.host, node.env, command, os.getcwd(),
                                               args.ssh_config)
                job.start(node, argv, stdin_line=stdin_line)
        return job.watch(args.timeout)
    except FileNotFoundError as err:
        job.stop()
        print(f"{prog('launch')}: error: COMMAND: {err.strerror}: {err.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        signum = err.args[0] if err.args else signal.SIGINT
        return job.fail(f"interrupted by {signal.Signals(signum).name}", 128 + signum)


if __name__ == '__main__':
    sys.exit(main())
