"""``vgg-gluon COMMAND ...`` (the console script) and ``python -m vgg_gluon COMMAND ...``.

With no command (or ``-h``) it lists the commands, one line each; with one,
it runs ``vgg_gluon.COMMAND.main`` on the rest of the line, exactly as
``python -m vgg_gluon.COMMAND`` does.
"""
import importlib
import sys

# every command, as `vgg-gluon NAME` and `python -m vgg_gluon.NAME`, with its line
COMMANDS = {
    'train': 'train VGG on Fashion-MNIST with the book\'s loop (a recipe, --resume)',
    'summary': 'per-layer shapes, parameters, multiply-adds, receptive fields, memory',
    'evaluate': 'a run\'s test accuracy, per class, and its confusion matrix',
    'predict': 'the top classes of image files, by a trained run',
    'export': 'a run as MXNet symbol files and ONNX, each checked against the network',
    'demo': 'a local page: what each block sees, receptive fields (the demo extra)',
    'testtime': 'the paper\'s test-time evaluations: dense, multi-crop, multi-scale',
    'launch': 'a parameter-server job: scheduler, servers and workers, watched as one',
    'horovodrun': 'Horovod\'s horovodrun, for train --horovod',
}
PROG = 'vgg-gluon'


def usage():
    from . import __version__
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [ARGS ...]   (or python -m vgg_gluon.COMMAND)", '',
             f"vgg_gluon {__version__}: the VGG chapter of Dive into Deep Learning, in MXNet "
             f"Gluon.", '', 'commands:']
    lines += [f"  {name:<{width}}  {line}" for name, line in COMMANDS.items()]
    lines += ['', f"{PROG} COMMAND --help shows a command's flags."]
    return '\n'.join(lines)


def main(argv=None):
    """Run the command named first in ``argv``; return its exit status."""
    from .cli.arguments import invoked_as
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(usage())
        return 0
    if argv[0] == '--version':
        from . import __version__
        print(f"vgg_gluon {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"{PROG}: error: unknown command {name!r}: choose one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    invoked_as(PROG + ' ')
    return importlib.import_module(f'vgg_gluon.{name}').main(rest)


if __name__ == '__main__':
    sys.exit(main())
