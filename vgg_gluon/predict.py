"""``python -m vgg_gluon.predict RUN_DIR IMAGE...``: the top-k Fashion-MNIST labels of images.

    python -m vgg_gluon.predict runs/20261123-0930 shoe.png shirt.jpg --top-k 3
    python -m vgg_gluon.predict --model fast shoe.png

Any PNG or JPEG (or other format Pillow reads), any size up to 50 megapixels,
grey, colour, 16-bit or CMYK (an animation: its first frame). Each image is
made to look like the training data: converted to grey, padded to a square
with its border's colour (not stretched), resized to 28x28 (area averaging
when shrinking), then to the run's input size with the training's bilinear
kernel, and scaled to [0, 1]. Fashion-MNIST items are light on a black
background: with --invert auto (the default) an image whose border is mostly
light (a product photo, dark on white) is inverted, and its line says
"(inverted)". A file that cannot be read gets one line on stderr; the others
are still predicted, and the exit status is then 2.
"""
import sys

from .cli.arguments import (add_precision_args, doc_body, doc_summary, int_arg, notice, open_run,
                            precision_root, prog, report, run_dir_parser)
from .errors import ConfigError, ImageError, VGGGluonError


def build_parser():
    p = run_dir_parser('predict', doc_summary(__doc__), epilog=doc_body(__doc__))
    p.add_argument('images', metavar='IMAGE', nargs='+', help='PNG or JPEG files')
    p.add_argument('--top-k', type=int_arg('an integer from 1 to 10'), default=3,
                   help='how many labels to print per image (1 to 10; default 3)')
    p.add_argument('--invert', choices=('auto', 'always', 'never'), default='auto',
                   help='make dark-on-light images light-on-dark like Fashion-MNIST: auto '
                        '(when the border is mostly light), always, never')
    add_precision_args(p)
    p.add_argument('--data-dir', default=None, help="int8: the Fashion-MNIST training images "
                                                    "that calibrate it (default: the run's, "
                                                    "else the usual places)")
    return p


def main(argv=None):
    """Entry point; returns the exit status (2: bad input or some image unreadable)."""
    # intermixed: RUN_DIR, then IMAGEs, may stand on either side of the flags
    args = build_parser().parse_intermixed_args(argv)
    cmd = prog('predict')
    if args.model is not None and args.run_dir is not None:
        # argparse gives the first IMAGE to the optional RUN_DIR when --model is given
        args.images.insert(0, args.run_dir)
        args.run_dir = None
    from .inference.images import predict_probabilities, prepare_image, to_batch, top_k
    from .inference.precision import for_inference
    try:
        if not 1 <= args.top_k <= 10:
            raise ConfigError(f"must be an integer from 1 to 10, got {args.top_k}", flag='top_k')
        (net, config, _), ctx = open_run(args)
        net = for_inference(net, config, ctx, args.precision, args.calib_images, args.data_dir,
                            precision_root(args), log=notice(cmd))
    except VGGGluonError as err:
        return report(cmd, err)
    images, names, failed = [], [], 0
    for path in args.images:
        try:
            image, inverted = prepare_image(path, args.invert)
            images.append(image)
            names.append(f"{path} (inverted)" if inverted else path)
        except ImageError as err:
            print(f"{cmd}: error: {err}", file=sys.stderr)  # names the file; the rest go on
            failed += 1
    if images:
        import numpy as np
        probabilities = predict_probabilities(net, to_batch(np.stack(images), config.resize), ctx)
        for path, row in zip(names, probabilities):
            print(f"{path}: " + ', '.join(f"{label} {p:.3f}" for label, p in top_k(row, args.top_k)))
    return 2 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
