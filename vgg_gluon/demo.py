"""``vgg-gluon demo [RUN_DIR | --model NAME]``: a local page showing what each block of VGG sees.

    vgg-gluon demo                       # the shipped model fast, on http://127.0.0.1:7860/
    vgg-gluon demo runs/book --also fast # a run of yours, beside the shipped model

The page, top to bottom:
  model, side by side with  the network that answers, and another one whose top
                     classes show beside its own (each RUN_DIR, --model, --also)
  input              draw an item, upload a photo, or pick a test image (a class,
                     which one of it, or "random"); dark-on-light pictures are
                     inverted unless turned off; "look inside" runs it
  what it sees       the 28x28 grey image the network gets, a note (which test
                     image, whether inverted), its top 3 classes, the other
                     model's, and the top class as text
  blocks             each block's output shape (height and width halve, channels
                     double); for the block chosen, its strongest feature maps and
                     its mean map, on which a unit can be clicked
  receptive fields   for the unit clicked: its theoretical field (the layer
                     table's arithmetic) as a red box on the input, its effective
                     one (|gradient| of the unit with respect to the input) as a
                     heat map, and a line giving both
  filters            the first convolution's filters
  the run            "show the run of this model": its learning curve (the run's
                     metrics.jsonl, or a shipped model's record), its confusion
                     matrix on the test set and the 16 test images it gets wrong
                     most confidently (the test-set pass is cached under
                     --cache-dir, never in the run or the package)
  add a run directory  a run's path typed in loads it beside the others, in both
                     model lists (only while the page listens on loopback)

A bad file or folder gets a message on the page, and the page goes on. Scripts
call its endpoint /predict: an image file, a model's name and the inversion
setting (auto, always, never) in, {'model', 'inverted', 'top_k': [{'label',
'probability'}, ...]} (every class) or {'error': message} out, e.g. with
gradio_client: Client(url).predict(handle_file('shoe.png'), 'fast', 'auto',
api_name='/predict') (see vgg_gluon/visual/page.py). It listens on 127.0.0.1
only unless --host says otherwise, offers no share link and sends nothing out
(Gradio's analytics off, no web fonts). Needs the demo extra: pip install
'vgg_gluon[demo]'.
"""
import errno
import socket
import sys

from .cli.arguments import (add_precision_args, check_source, doc_body, doc_summary, fail, int_arg,
                            notice, open_run, precision_root, prog, report, run_dir_parser)
from .errors import Error, VGGGluonError

DEFAULT_PORT = 7860   # Gradio's


def build_parser():
    p = run_dir_parser('demo', doc_summary(__doc__), epilog=doc_body(__doc__))
    p.add_argument('--also', action='append', default=[], metavar='RUN_DIR_OR_NAME',
                   help='another run directory or shipped model to put beside the first '
                        '(repeatable)')
    p.add_argument('--host', default='127.0.0.1',
                   help='the address to listen on (0.0.0.0: every interface; take care)')
    p.add_argument('--port', type=int_arg('a port from 1 to 65535'), default=DEFAULT_PORT)
    p.add_argument('--open', action='store_true', help='open the page in the web browser')
    p.add_argument('--data-dir', default=None, help='Fashion-MNIST IDX files (the test-set '
                                                    'picker and int8 calibration; default: the '
                                                    'usual places)')
    p.add_argument('--cache-dir', default=None,
                   help="where the run section's test-set summary is cached (default: "
                        "~/.cache/vgg_gluon/demo; never a run directory or the package)")
    add_precision_args(p, also="; on the page only the answer (the top classes) uses int8: the "
                                "feature maps and the receptive fields' gradients need the fp32 "
                                "network, and fp32 answers come from it as loaded")
    return p


def check_port(host, port):
    """Error (flag 'port') unless ``host:port`` can be bound now."""
    if not 1 <= port <= 65535:
        raise Error(f"must be a port from 1 to 65535, got {port}", flag='port')
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, port))
    except OSError as err:
        busy = err.errno == errno.EADDRINUSE
        raise Error(f"{host}:{port} is {'in use' if busy else 'not available'} "
                    f"({err.strerror}); give another --port", flag='port') from None


def load_models(args, log=None):
    """{name: LoadedRun} of the main model and every --also, {name: the network that
    answers} (int8 with --precision int8, else the LoadedRun's), and the device; sets
    args.sources: {name: its run directory, or None for a shipped model}."""
    import os
    from .inference.precision import for_inference
    check_source(args, default_model='fast')
    models, answering = {}, {}
    args.sources = {}
    for other in [None] + args.also:
        if other is not None:
            is_dir = os.path.isdir(other)
            args.run_dir, args.model = (other, None) if is_dir else (None, other)
        run, ctx = open_run(args)
        name = args.model or os.path.basename(os.path.normpath(args.run_dir))
        models[name] = run
        args.sources[name] = args.run_dir
        answering[name] = run.net
        if args.precision == 'int8':
            answering[name] = for_inference(run.net, run.config, ctx, 'int8', args.calib_images,
                                            args.data_dir, precision_root(args), log=log)
    return models, answering, ctx


def main(argv=None):
    """Entry point; serves until Ctrl-C. 2: bad input, a busy port, or no Gradio."""
    args = build_parser().parse_args(argv)
    cmd = prog('demo')
    try:
        import gradio  # noqa: F401
    except ImportError:
        return fail(cmd, "the page needs Gradio: pip install 'vgg_gluon[demo]' (or make demo)")
    try:
        check_port(args.host, args.port)
        models, answering, ctx = load_models(args, log=notice(cmd))
    except VGGGluonError as err:
        return report(cmd, err)
    from .visual.page import Session, build_page, serve
    loopback = args.host in ('127.0.0.1', 'localhost', '::1')
    page = build_page(Session(models, ctx, args.data_dir, answering, sources=args.sources,
                              cache_dir=args.cache_dir, allow_paths=loopback))
    print(f"{cmd}: serving {', '.join(models)} on http://{args.host}:{args.port}/ (Ctrl-C stops)",
          flush=True)
    serve(page, args.host, args.port, open_browser=args.open)
    return 0


if __name__ == '__main__':
    sys.exit(main())
