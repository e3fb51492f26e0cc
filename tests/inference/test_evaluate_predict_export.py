"""Using a trained run: evaluate, predict on image files, export to MXNet and ONNX."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import mxnet as mx

from vgg_gluon import evaluate, export, predict, train
from vgg_gluon.inference import images as prediction
from vgg_gluon.checkpoint import reader as rundir
from vgg_gluon.data.fashion_mnist import TEXT_LABELS, resize_images

ARGS = ['--arch', '1x32,1x64', '--ratio', '8', '--scale-dense', '--resize', '32',
        '--optimizer', 'adam', '--lr', '0.002', '--batch-size', '64',
        '--train-samples', '1000', '--test-samples', '200', '--epochs', '2', '--quiet']


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('use') / 'run')
    assert train.main(ARGS + ['--out', out]) == 0
    return out


def _real_batch(fmnist, n, size=32):
    """The first n real test images as the network sees them: (n, 1, size, size)."""
    images = fmnist['test'][0][:n]
    return mx.nd.array(resize_images(images, size)[:, None], dtype='uint8').astype('float32') / 255


@pytest.mark.slow
def test_evaluate_matches_training_and_writes_the_figure(run_dir, tmp_path, capsys):
    out = str(tmp_path / 'eval')
    assert evaluate.main([run_dir, '--test-samples', '200', '--out', out]) == 0
    printed = capsys.readouterr().out
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        last = json.loads(f.readlines()[-1])
    with open(os.path.join(out, 'evaluation.json')) as f:
        summary = json.load(f)
    assert summary['accuracy'] == pytest.approx(last['test_acc'], abs=1e-12)
    assert summary['accuracy'] > 0.5                    # it learned; chance is 0.1
    assert summary['num_samples'] == 200 and sum(summary['support'].values()) == 200
    assert f"test accuracy {last['test_acc']:.4f}" in printed
    assert all(label in printed for label in TEXT_LABELS)
    with open(os.path.join(out, 'confusion.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert np.array(summary['confusion']).sum() == 200


@pytest.mark.slow
def test_evaluate_refuses_a_bad_sample_count(run_dir, capsys):
    assert evaluate.main([run_dir, '--test-samples', '20000']) == 2
    err = capsys.readouterr().err
    assert '--test-samples' in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_predict_reads_any_image_and_reports_bad_files(run_dir, fmnist, tmp_path, capsys):
    images = fmnist['test'][0]
    files = {
        'grey28.png': Image.fromarray(images[0]),
        'colour100.jpg': Image.fromarray(images[1]).resize((100, 100), Image.NEAREST).convert('RGB'),
        'rgba50x70.png': Image.fromarray(images[2]).resize((50, 70)).convert('RGBA'),
        'small14.png': Image.fromarray(images[3]).resize((14, 14)),
    }
    paths = []
    for name, image in files.items():
        paths.append(str(tmp_path / name))
        image.save(paths[-1])
    empty, text = str(tmp_path / 'empty.png'), str(tmp_path / 'notes.jpg')
    open(empty, 'wb').close()
    with open(text, 'w') as f:
        f.write('not an image')
    status = predict.main([run_dir, paths[0], empty, *paths[1:], text, '--top-k', '3'])
    out, err = capsys.readouterr()
    assert status == 2                                  # two files failed
    assert err.count('\n') == 2 and 'empty' in err and 'notes.jpg' in err
    lines = out.strip().splitlines()
    assert [line.split(':')[0] for line in lines] == paths   # the others, in order
    for line in lines:
        assert len(line.split(': ', 1)[1].split(', ')) == 3
    # the 28x28 PNG of a test image is exactly that test image to the network
    net = rundir.load_model(run_dir).net
    probabilities = net(_real_batch(fmnist, 1)).softmax(axis=1).asnumpy()[0]
    best = probabilities.argmax()
    assert lines[0] == paths[0] + ': ' + ', '.join(
        f"{label} {p:.3f}" for label, p in prediction.top_k(probabilities, 3))
    assert TEXT_LABELS[best] in lines[0].split(': ')[1].split(',')[0]


def test_predict_help_says_items_are_light_on_black():
    assert 'light on a black' in ' '.join(predict.build_parser().format_help().split())


@pytest.mark.slow
def test_export_mxnet_and_onnx_agree_with_the_trained_network(run_dir, fmnist, tmp_path, capsys):
    import onnxruntime
    out = str(tmp_path / 'export')
    assert export.main([run_dir, '--out', out]) == 0
    assert 'check onnx: batch 7' in capsys.readouterr().out
    net = rundir.load_model(run_dir).net
    imported = mx.gluon.SymbolBlock.imports(os.path.join(out, 'vgg-symbol.json'), ['data'],
                                            os.path.join(out, 'vgg-0000.params'))
    session = onnxruntime.InferenceSession(os.path.join(out, 'vgg.onnx'),
                                           providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['data']
    X = _real_batch(fmnist, 8)
    for n in (1, 7):
        expected = net(X[:n]).asnumpy()
        assert expected.shape == (n, 10)
        np.testing.assert_allclose(imported(X[:n]).asnumpy(), expected, rtol=0, atol=1e-6)
        onnx_out = session.run(None, {'data': X[:n].asnumpy()})[0]
        np.testing.assert_allclose(onnx_out, expected, rtol=0, atol=1e-4)
