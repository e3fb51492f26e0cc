"""Dense evaluation, multi-crop, flips and the testtime command."""
import json

import numpy as np
import pytest

import vgg_gluon  # noqa: F401
import mxnet as mx
from mxnet import init

from vgg_gluon import testtime, train
from vgg_gluon.models.vgg import vgg_from_spec
from vgg_gluon.inference.multiscale import (crop_offsets, crops, dense_scores, flipped,
                                  to_fully_convolutional)


def exit_status(main, argv):
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def _net(arch, resize, seed=0):
    mx.random.seed(seed)
    net = vgg_from_spec(arch, ratio=8, scale_dense=True)
    net.initialize(init.Xavier())
    net(mx.nd.zeros((1, 1, resize, resize)))  # finish deferred initialisation
    return net


# 64 and 96 px leave a 2x2 and 3x3 last map: the first dense layer becomes a
# 2x2 / 3x3 conv, which checks that Dense's (c, h, w) flattening order is kept.
@pytest.mark.parametrize('arch, resize', [('vgg11', 32), ('vgg11', 64), ('vgg16-c-bn', 96),
                                          ('vgg11-lrn', 64)])
def test_dense_equals_original_at_training_size(arch, resize):
    net = _net(arch, resize)
    X = mx.nd.random.uniform(shape=(4, 1, resize, resize))
    fcn = to_fully_convolutional(net)
    score_map = fcn(X)
    assert score_map.shape == (4, 10, 1, 1)
    logits = net(X).asnumpy()
    np.testing.assert_allclose(score_map.asnumpy()[:, :, 0, 0], logits, rtol=1e-5, atol=1e-5)
    for average in ('softmax', 'logits'):
        np.testing.assert_allclose(dense_scores(fcn, X, average).asnumpy(),
                                   mx.nd.softmax(net(X)).asnumpy(), rtol=1e-5, atol=1e-6)
    fcn.hybridize()
    np.testing.assert_allclose(fcn(X).asnumpy()[:, :, 0, 0], logits, rtol=1e-5, atol=1e-5)


def test_dense_on_larger_images():
    net = _net('vgg11', 64)   # trained size 64: last map 2x2, so fc1 is a 2x2 conv
    fcn = to_fully_convolutional(net)
    X = mx.nd.random.uniform(shape=(3, 1, 128, 128))
    assert fcn(X).shape == (3, 10, 3, 3)   # 128 // 32 = 4 positions, 4 - 2 + 1 = 3
    p = dense_scores(fcn, X).asnumpy()
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    # each position is a 64-pixel window's posteriors; but not the network on that
    # crop, since inside the image the convs see neighbours, not zero padding (the
    # paper's point about dense vs multi-crop): the two averages differ
    logit_avg = dense_scores(fcn, X, 'logits').asnumpy()
    np.testing.assert_allclose(logit_avg.sum(axis=1), 1, rtol=1e-5)
    assert not np.allclose(p, logit_avg, rtol=0, atol=1e-7)


def test_crops_and_flips():
    assert crop_offsets(48, 32, 3) == [0, 8, 16] and crop_offsets(48, 32, 1) == [8]
    assert crop_offsets(32, 32, 5) == [0] * 5
    X = mx.nd.arange(2 * 6 * 6).reshape((1, 2, 6, 6))
    views = crops(X, 4, 2)
    assert len(views) == 4 and all(v.shape == (1, 2, 4, 4) for v in views)
    np.testing.assert_array_equal(views[3].asnumpy(), X.asnumpy()[:, :, 2:, 2:])
    np.testing.assert_array_equal(flipped(X).asnumpy(), X.asnumpy()[:, :, :, ::-1])


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    """A tiny VGG-11/8 trained with scale jittering on 1,500 real images (2 epochs, Adam)."""
    out = tmp_path_factory.mktemp('testtime') / 'run'
    status = train.main(['--arch', 'vgg11', '--ratio', '8', '--scale-dense', '--resize', '32',
                         '--scale-jitter', '32,40', '--epochs', '2', '--train-samples', '1500',
                         '--test-samples', '200', '--optimizer', 'adam', '--lr', '0.001',
                         '--batch-size', '64', '--quiet', '--out', str(out)])
    assert status == 0
    return out


@pytest.mark.slow
def test_testtime_prints_three_accuracies(run_dir, capsys):
    capsys.readouterr()
    assert testtime.main([str(run_dir), '--test-samples', '200', '--scales', '32,40']) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines[2:]}
    for key in (('single-scale', '32'), ('dense', '40'), ('dense', '32,40'),
                ('multi-crop', '40'), ('multi-crop', '32,40'), ('dense+crops', '32,40')):
        views, acc, flip_acc = rows[key]
        assert 0 <= float(acc) <= 1 and 0 <= float(flip_acc) <= 1
    # it learned: well above chance (0.1) after 2 epochs on 1,500 images
    assert float(rows[('single-scale', '32')][1]) > 0.3
    # dense at the training size is the single-scale network
    assert rows[('dense', '32')][1:] == rows[('single-scale', '32')][1:]
    assert rows[('multi-crop', '40')][0] == '9'


@pytest.mark.slow
def test_testtime_json(run_dir, capsys):
    capsys.readouterr()
    assert testtime.main([str(run_dir), '--test-samples', '50', '--json', '--crop-grid', '2',
                          '--average', 'logits']) == 0
    report = json.loads(capsys.readouterr().out)
    assert report['test_samples'] == 50 and report['crop_grid'] == 2
    methods = {r['method'] for r in report['rows']}
    assert methods == {'single-scale', 'dense', 'multi-crop', 'dense+crops'}
    # default scales after jittering 32..40: S_min, the middle, S_max
    assert [r['scales'] for r in report['rows'] if r['method'] == 'dense'][-1] == [32, 36, 40]


@pytest.mark.slow
@pytest.mark.parametrize('argv, flag', [
    (['{run}', '--scales', '24,32'], '--scales'), (['{run}', '--scales', 'x'], '--scales'),
    (['{run}', '--crop-grid', '0'], '--crop-grid'), (['{run}', '--test-samples', '0'], '--test-samples'),
    (['{run}', '--test-samples', '10001'], '--test-samples'),
    (['{run}', '--average', 'max'], '--average'), (['{missing}'], 'RUN_DIR'),
    (['{run}', '--gpus', 'x'], '--gpus')])
def test_testtime_bad_flags(argv, flag, run_dir, tmp_path, capsys):
    argv = [a.format(run=run_dir, missing=tmp_path / 'nope') for a in argv]
    capsys.readouterr()
    assert exit_status(testtime.main, argv) == 2
    err = capsys.readouterr().err
    assert flag in err and err.count('\n') == 1 and 'Traceback' not in err
