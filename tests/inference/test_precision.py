"""--precision fp32|int8: the flags and their refusals, fused and int8 networks against
plain fp32 on real test images, and the int8 cache (written, reused, rebuilt, skipped)."""
import json
import os
import pickle
import shutil

import numpy as np
import pytest

import mxnet as mx

from vgg_gluon import demo, evaluate, predict, testtime
from vgg_gluon.checkpoint import zoo
from vgg_gluon.data.fashion_mnist import resize_images, to_tensor
from vgg_gluon.inference import precision

# int8 against fp32 on real test images: at most this fraction of the top classes may
# differ (the shipped model measured 0.28 % on all 10,000 with 512 calibration images)
INT8_DISAGREEMENT = 0.01
CALIB = 64          # calibration images in the cache tests: enough to be real, quick


@pytest.fixture(scope='module')
def shipped():
    return zoo.load_shipped('fast', ctx=mx.cpu())


@pytest.fixture(scope='module')
def test_batch(fmnist, shipped):
    """(1000, 1, 32, 32) real test images as the shipped model sees them, and labels."""
    images, labels = fmnist['test']
    return to_tensor(resize_images(images[:1000], shipped.config.resize)), labels[:1000]


def _fresh():
    return zoo.load_shipped('fast', ctx=mx.cpu())


@pytest.fixture
def run_dir(tmp_path):
    """A run directory of the shipped model's config.json and model.params (a
    finished run without a checkpoint manifest)."""
    out = tmp_path / 'run'
    out.mkdir()
    for name in ('config.json', 'model.params'):
        shutil.copy(os.path.join(zoo.model_dir('fast'), name), out / name)
    return str(out)


def _one_line(err, flag):
    assert err.count('\n') == 1 and flag in err and 'Traceback' not in err, err


# ---- the flags ---------------------------------------------------------------------

@pytest.mark.parametrize('argv, flag', [
    (['--precision', 'bf16'], '--precision'),
    (['--precision', 'int8', '--calib-images', '0'], '--calib-images'),
    (['--precision', 'int8', '--calib-images', '60001'], '--calib-images'),
    (['--precision', 'int8', '--calib-images', 'many'], '--calib-images'),
])
@pytest.mark.parametrize('command', [evaluate, testtime])
def test_bad_precision_flags_are_one_line_and_status_2(command, argv, flag, capsys):
    with pytest.raises(SystemExit) as stop:
        command.main(['--model', 'fast'] + argv)
    assert stop.value.code == 2
    _one_line(capsys.readouterr().err, flag)


def test_calib_images_without_int8_is_refused(tmp_path, capsys):
    status = evaluate.main(['--model', 'fast', '--calib-images', '100', '--test-samples', '10',
                            '--out', str(tmp_path)])
    assert status == 2
    _one_line(capsys.readouterr().err, '--calib-images')


@pytest.mark.parametrize('command, extra', [(evaluate, []), (predict, ['x.png']),
                                            (testtime, [])])
def test_int8_on_a_gpu_is_refused_before_any_gpu_is_used(command, extra, capsys, monkeypatch):
    used = []
    monkeypatch.setattr(mx.context, 'num_gpus', lambda: used.append(1) or 0)
    status = command.main(['--model', 'fast', '--precision', 'int8', '--gpus', '0'] + extra)
    assert status == 2 and not used   # refused before MXNet was asked for its GPUs
    err = capsys.readouterr().err
    _one_line(err, '--precision')
    assert 'CPU only' in err


def test_library_refuses_int8_on_a_gpu_context(shipped):
    with pytest.raises(precision.Error) as err:
        precision.for_inference(shipped.net, shipped.config, mx.gpu(0), 'int8')
    assert err.value.flag == 'precision'


# ---- fused fp32 and int8 against plain fp32 -----------------------------------------------

def test_fused_agrees_with_plain_hybridization_on_real_images(test_batch, tmp_path):
    X, _ = test_batch
    plain = _fresh().net
    plain.hybridize(static_alloc=True, static_shape=True)
    fused = precision.for_inference(_fresh().net, _fresh().config, mx.cpu(), 'fp32')
    expected, got = plain(X).asnumpy(), fused(X).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    # the graph that ran is oneDNN's: convolutions with BatchNorm and ReLU fused
    fused.export(str(tmp_path / 'fused'))
    ops = [n['op'] for n in json.loads((tmp_path / 'fused-symbol.json').read_text())['nodes']]
    convs = sum(len(p.shape) == 4 for p in plain.collect_params().values())
    assert convs >= 4 and ops.count('_sg_mkldnn_conv') == convs and 'BatchNorm' not in ops
    # another batch size than the example's
    np.testing.assert_allclose(fused(X[:7]).asnumpy(), expected[:7], rtol=1e-4, atol=1e-4)


def test_int8_agrees_with_fp32_on_real_test_images(test_batch, fmnist_dir):
    X, labels = test_batch
    run = _fresh()
    fp32 = run.net(X).asnumpy().argmax(axis=1)
    int8 = precision.for_inference(run.net, run.config, mx.cpu(), 'int8', data_dir=fmnist_dir)
    got = int8(X).asnumpy().argmax(axis=1)
    assert (got != fp32).mean() <= INT8_DISAGREEMENT
    assert abs((got == labels).mean() - (fp32 == labels).mean()) <= 0.005


def test_calibration_draws_training_images_only_and_records_which():
    first = precision.calibration_indices(512)
    assert len(set(first)) == 512 and first.max() < precision.TRAIN_IMAGES
    assert (first == precision.calibration_indices(512)).all()
    assert precision.calibration(512, 32) != precision.calibration(256, 32)
    assert precision.calibration(512, 32)['split'] == 'train'


def test_calibration_reads_the_training_split_and_never_the_test_split(
        fmnist, fmnist_dir, monkeypatch):
    read = []
    real = precision.read_fashion_mnist

    def reading(data_dir=None, splits=('train', 'test')):
        read.extend(splits)
        return real(data_dir, splits)
    monkeypatch.setattr(precision, 'read_fashion_mnist', reading)
    X = precision.calibration_batch(fmnist_dir, 8, 32)
    assert read == ['train'] and X.shape == (8, 1, 32, 32)
    first = precision.calibration_indices(8)[0]
    expected = to_tensor(resize_images(fmnist['train'][0][first:first + 1], 32))
    np.testing.assert_array_equal(X[:1].asnumpy(), expected.asnumpy())


# ---- the cache ---------------------------------------------------------------------------

def _int8(root, fmnist_dir, n=CALIB, net=None, lines=None):
    run = _fresh()
    return precision.for_inference(net or run.net, run.config, mx.cpu(), 'int8', n, fmnist_dir,
                                   root, log=(lines if lines is not None else []).append)


def _counting(monkeypatch):
    calls = []
    real = precision.quantize

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(precision, 'quantize', counted)
    return calls


def test_cache_is_written_reused_and_rebuilt_when_the_params_change(
        tmp_path, fmnist_dir, test_batch, monkeypatch):
    X, _ = test_batch
    calls = _counting(monkeypatch)
    root = str(tmp_path)
    lines = []
    first = _int8(root, fmnist_dir, lines=lines)(X).asnumpy()
    cache = tmp_path / precision.CACHE_DIR
    names = sorted(os.listdir(cache))
    assert names == ['classifier-0000.params', 'classifier-symbol.json', 'manifest.json']
    entry = json.loads((cache / 'manifest.json').read_text())['networks']['classifier']
    assert entry['calibration']['images'] == CALIB and entry['calibration']['split'] == 'train'
    assert entry['calibration']['mode'] == 'naive' and entry['mxnet'] == mx.__version__
    assert entry['params_sha256'] == precision.params_sha256(_fresh().net)
    mtimes = {n: os.stat(cache / n).st_mtime_ns for n in names}
    assert calls == [1] and 'cached in' in lines[-1]

    again = _int8(root, fmnist_dir, lines=lines)(X).asnumpy()
    assert calls == [1] and 'reusing' in lines[-1]         # not quantized again
    assert {n: os.stat(cache / n).st_mtime_ns for n in names} == mtimes
    np.testing.assert_array_equal(again, first)

    _int8(root, fmnist_dir, n=CALIB + 1)                    # another calibration
    assert calls == [1, 1]
    changed = _fresh().net
    weight = changed.collect_params()[next(iter(changed.collect_params()))]
    weight.set_data(weight.data() * 1.01)
    _int8(root, fmnist_dir, net=changed)                    # new parameters
    assert calls == [1, 1, 1]
    entry = json.loads((cache / 'manifest.json').read_text())['networks']['classifier']
    assert entry['params_sha256'] == precision.params_sha256(changed)


def test_a_changed_cache_file_is_rebuilt_not_loaded(tmp_path, fmnist_dir, monkeypatch):
    calls = _counting(monkeypatch)
    _int8(str(tmp_path), fmnist_dir)
    params = tmp_path / precision.CACHE_DIR / 'classifier-0000.params'
    data = bytearray(params.read_bytes())
    data[-1] ^= 1
    params.write_bytes(bytes(data))
    _int8(str(tmp_path), fmnist_dir)
    assert calls == [1, 1]


def test_cache_holds_no_pickle_and_loads_without_unpickling(tmp_path, fmnist_dir, monkeypatch):
    _int8(str(tmp_path), fmnist_dir)
    cache = tmp_path / precision.CACHE_DIR
    for name in os.listdir(cache):
        head = (cache / name).read_bytes()[:2]
        assert head[:1] != b'\x80', name                   # pickle's protocol 2+ opcode
    json.loads((cache / 'classifier-symbol.json').read_text())
    assert mx.nd.load(str(cache / 'classifier-0000.params'))

    def refuse(*args, **kwargs):
        raise AssertionError('the cache was unpickled')
    monkeypatch.setattr(pickle, 'load', refuse)
    monkeypatch.setattr(pickle, 'loads', refuse)
    monkeypatch.setattr(precision, 'quantize', refuse)     # loaded, not rebuilt
    _int8(str(tmp_path), fmnist_dir)


def test_a_run_dir_that_cannot_be_written_skips_the_cache_in_one_line(
        run_dir, tmp_path, fmnist_dir, capsys):
    image = tmp_path / 'item.png'
    from PIL import Image
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    # a file where the cache's folder would go: nothing can be written there
    with open(os.path.join(run_dir, precision.CACHE_DIR), 'w') as f:
        f.write('not a folder')
    status = predict.main([run_dir, str(image), '--precision', 'int8', '--calib-images',
                           str(CALIB), '--data-dir', fmnist_dir])
    captured = capsys.readouterr()
    assert status == 0 and captured.out.startswith(f"{image}: ")
    notes = [line for line in captured.err.splitlines() if 'int8' in line]
    assert len(notes) == 1 and 'cache is skipped' in notes[0] and 'going on' in notes[0]


def test_shipped_model_is_cached_under_runs_never_in_the_package(
        tmp_path, fmnist_dir, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(zoo.model_dir('fast')))
    status = evaluate.main(['--model', 'fast', '--precision', 'int8', '--calib-images', str(CALIB),
                            '--test-samples', '200', '--data-dir', fmnist_dir])
    assert status == 0
    assert sorted(os.listdir(zoo.model_dir('fast'))) == before
    assert (tmp_path / 'runs' / 'fast-int8' / precision.CACHE_DIR / 'manifest.json').is_file()
    out = capsys.readouterr().out
    assert 'int8 test accuracy' in out
    with open(tmp_path / 'runs' / 'fast-evaluate' / 'evaluation.json') as f:
        assert json.load(f)['precision'] == 'int8'


def test_testtime_int8_caches_both_networks(run_dir, fmnist_dir, capsys):
    status = testtime.main([run_dir, '--precision', 'int8', '--calib-images', str(CALIB),
                            '--test-samples', '100', '--scales', '32,40', '--data-dir',
                            fmnist_dir, '--json'])
    assert status == 0
    rows = json.loads(capsys.readouterr().out)['rows']
    assert rows[0]['method'] == 'single-scale' and rows[0]['accuracy'] > 0.8
    entries = json.loads(open(os.path.join(run_dir, precision.CACHE_DIR, 'manifest.json')).read())
    assert set(entries['networks']) == {'classifier', 'dense'}


def test_demo_answers_with_int8_and_keeps_the_fp32_network(fmnist_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    args = demo.build_parser().parse_args(['--precision', 'int8', '--calib-images', str(CALIB),
                                           '--data-dir', fmnist_dir])
    models, answering, _ = demo.load_models(args)
    assert isinstance(answering['fast'], mx.gluon.SymbolBlock)
    assert not isinstance(models['fast'].net, mx.gluon.SymbolBlock)


def test_a_run_dir_another_process_writes_skips_the_cache_and_goes_on(run_dir, fmnist_dir,
                                                                     shipped):
    from vgg_gluon.runtime.lock import writer_lock
    lines = []
    with writer_lock(run_dir):       # a second flock on its own file: refused as another's
        qnet = _int8(run_dir, fmnist_dir, lines=lines)
    assert len(lines) == 1 and 'cache is skipped' in lines[0] and 'another process' in lines[0]
    assert not os.path.exists(os.path.join(run_dir, precision.CACHE_DIR, precision.MANIFEST))
    size = shipped.config.resize
    assert qnet(mx.nd.zeros((2, 1, size, size))).shape == (2, 10)
