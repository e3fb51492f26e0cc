"""The training toolkit's parts: augmentation, schedules, weight decay, label
smoothing, NAG, the best epoch, the progress bar and --amp's refusal on a CPU
(real MXNet, small inputs)."""
import json
import os

import numpy as np
import pytest

import mxnet as mx
from mxnet import gluon

from vgg_gluon import train
from vgg_gluon.data import augment
from vgg_gluon.checkpoint import reader as rundir
from vgg_gluon.training import schedules, runner as training
from vgg_gluon.checkpoint.writer import CheckpointWriter
from vgg_gluon.config import Config
from vgg_gluon.data.fashion_mnist import BatchIter
from vgg_gluon.errors import ConfigError
from vgg_gluon.training.loop import SmoothedCrossEntropy, TrainOptions, train_ch5
from vgg_gluon.models.vgg import build_net
from vgg_gluon.training.optimizers import NAG, SGD
from vgg_gluon.inference.images import predict_probabilities, read_image, to_batch

ALL = 'resized-crop,crop,flip,erase'


def _images(n=64, size=32, seed=0):
    """Synthetic uint8 images, each distinct (augmentation's geometry only)."""
    return np.random.RandomState(seed).randint(0, 256, size=(n, size, size)).astype(np.uint8)


# ---- augmentation ----------------------------------------------------------------

def test_parse_augment_keeps_the_running_order_and_refuses_unknown_names():
    assert augment.parse_augment('none') == ()
    assert augment.parse_augment('erase,flip,crop') == ('crop', 'flip', 'erase')
    for bad in ('rotate', 'flip,flip', '', 'none,flip'):
        with pytest.raises(ConfigError) as err:
            augment.parse_augment(bad)
        assert err.value.flag == 'augment'


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
    images = _images()
    out = augment.crop(images, np.random.RandomState(1))
    rng = np.random.RandomState(1)
    top, left = rng.randint(0, 9, size=(2, len(images)))
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4)))
    for i in range(len(images)):  # the per-image reference the vectorised gather must equal
        assert np.array_equal(out[i], padded[i, top[i]:top[i] + 32, left[i]:left[i] + 32])


def test_flip_mirrors_about_half_and_leaves_the_rest():
    images = _images(n=400)
    out = augment.flip(images, np.random.RandomState(2))
    mirrored = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)])
    same = np.array([np.array_equal(o, i) for o, i in zip(out, images)])
    assert np.all(mirrored ^ same) and 150 < mirrored.sum() < 250


def test_resized_crop_of_the_whole_image_is_the_image():
    images = _images()
    box = (np.zeros(64, int), np.zeros(64, int), np.full(64, 32), np.full(64, 32))
    original = augment._boxes
    try:
        augment._boxes = lambda *a: box
        out = augment.resized_crop(images, np.random.RandomState(0))
    finally:
        augment._boxes = original
    assert np.array_equal(out, images)


def test_resized_crop_and_erase_keep_shape_and_type_and_change_images():
    images = _images()
    for step in (augment.resized_crop, augment.erase):
        out = step(images, np.random.RandomState(3))
        assert out.shape == images.shape and out.dtype == np.uint8
        changed = [not np.array_equal(o, i) for o, i in zip(out, images)]
        assert 0 < sum(changed)
    erased = augment.erase(images, np.random.RandomState(3))
    fraction = (erased != images).mean(axis=(1, 2))
    assert fraction.max() < 0.4                      # at most a third of the area (+ rounding)


def _epoch(iterator, epoch):
    iterator.set_epoch(epoch)
    return [(X.asnumpy(), y.asnumpy()) for X, y in iterator]


def test_augmented_batches_depend_only_on_seed_and_epoch_and_keep_the_order():
    images, labels = _images(n=300), np.arange(300) % 10
    make = lambda aug: BatchIter(images, labels, 64, shuffle=True, seed=5,
                                 augment=augment.make_augment(aug))
    a, b, plain = make(ALL), make(ALL), make('none')
    first = _epoch(a, 3)
    _epoch(b, 0)                                     # another epoch first: no effect
    assert all(np.array_equal(x1, x2) for (x1, _), (x2, _) in zip(first, _epoch(b, 3)))
    assert not all(np.array_equal(x1, x2) for (x1, _), (x2, _) in zip(first, _epoch(a, 4)))
    # the labels (the shuffle order) are those of the unaugmented iterator
    assert all(np.array_equal(y1, y2) for (_, y1), (_, y2) in zip(first, _epoch(plain, 3)))


def test_sharded_augmented_batches_together_are_the_global_batch():
    images, labels = _images(n=300), np.arange(300)
    aug = augment.make_augment(ALL)
    whole = _epoch(BatchIter(images, labels, 64, shuffle=True, seed=5, augment=aug), 2)
    shards = [_epoch(BatchIter(images, labels, 64, shuffle=True, seed=5, augment=aug)
                     .shard(rank, 3), 2) for rank in range(3)]
    for b, (X, y) in enumerate(whole):
        for rank in range(3):
            assert np.array_equal(shards[rank][b][0], X[rank::3])
            assert np.array_equal(shards[rank][b][1], y[rank::3])


def test_the_test_iterator_is_never_augmented(fmnist_dir):
    config = Config(resize=32, augment=ALL, train_samples=256, test_samples=128,
                    data_dir=fmnist_dir)
    train_iter, test_iter = training.load_data(config)
    assert train_iter.augment is not None and test_iter.augment is None


# ---- schedules --------------------------------------------------------------------

@pytest.mark.parametrize('schedule, extra, expected', [
    ('constant', {}, [0.1, 0.1, 0.1, 0.1]),
    ('constant', {'warmup_epochs': 1}, [0.1, 0.1, 0.1, 0.1]),
    ('step', {'lr_steps': [2, 3]}, [0.1, 0.1, 0.01, 0.001]),
    ('cosine', {}, [0.1 * (1 + np.cos(np.pi * e / 4)) / 2 for e in (1, 2, 3, 4)]),
    ('onecycle', {'warmup_epochs': 2}, [0.1 * (1 / 25 + 1) / 2, 0.1, 0.05, 0.0]),
])
def test_schedules_at_each_epochs_end(schedule, extra, expected):
    config = Config(epochs=4, lr=0.1, lr_schedule=schedule, **extra).validate()
    rates = [rate for _, rate in schedules.schedule_table(config, 10)]
    assert rates == pytest.approx(expected, abs=1e-9)


def test_the_book_recipe_has_no_scheduler_and_onecycle_warms_up_by_default():
    assert schedules.make_scheduler(Config(), 469) is None
    config = Config(epochs=10, lr_schedule='onecycle')
    assert schedules.warmup_epochs(config) == 3.0
    scheduler = schedules.make_scheduler(config, 10)
    assert scheduler(0) == pytest.approx(config.lr / 25) and scheduler(30) == config.lr


@pytest.mark.parametrize('schedule', ['constant', 'step', 'cosine', 'onecycle'])
def test_a_warm_up_that_rounds_to_the_whole_run_leaves_one_step(schedule):
    # 0.999 of one 469-batch epoch rounds to 469 steps: MXNet divided by zero at the last
    extra = {'lr_steps': [1]} if schedule == 'step' else {}
    config = Config(epochs=1, lr=0.1, lr_schedule=schedule, warmup_epochs=0.999,
                    **extra).validate()
    scheduler = schedules.make_scheduler(config, 469)
    assert scheduler.warmup_steps == 468
    rates = [scheduler(step) for step in range(1, 470)]
    assert all(np.isfinite(rates)) and max(rates) <= 0.1 + 1e-12


def test_the_optimizer_follows_the_schedule_per_batch_and_resumes_at_the_step_count():
    config = Config(epochs=2, lr=0.1, lr_schedule='cosine', optimizer='nag', momentum=0.9)
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), NAG(learning_rate=0.1, momentum=0.9))
    schedules.attach(trainer, config, steps_per_epoch=5)
    rates = []
    for _ in range(10):
        with mx.autograd.record():
            loss = net(mx.nd.ones((4, 3))).sum()
        loss.backward()
        trainer.step(4)
        rates.append(trainer.learning_rate)
    assert rates[4] == pytest.approx(0.05) and rates[-1] == pytest.approx(0.0)
    assert len(set(rates)) == 10                    # a new rate every batch
    other = gluon.Trainer(net.collect_params(), NAG(learning_rate=0.1, momentum=0.9))
    schedules.attach(other, config, steps_per_epoch=5, steps_done=5)
    assert other.learning_rate == pytest.approx(0.05)


# ---- weight decay, label smoothing, NAG --------------------------------------------

def test_weight_decay_spares_biases_and_batch_norm_unless_asked():
    for wd_all, expected in ((False, 0.0), (True, 1.0)):
        config = Config(arch='1x8-bn', ratio=1, resize=32, wd=1e-4, wd_all=wd_all)
        params = list(build_net(config).collect_params().values())
        training.no_decay(params, config)
        for p in params:
            spared = p.name.endswith(('bias', 'gamma', 'beta'))
            assert p.wd_mult == (expected if spared else 1.0), p.name
    assert training.optimizer_params(Config()) == {}          # the book's optimizer as it was


def test_label_smoothing_is_cross_entropy_against_the_smoothed_target():
    pred = mx.nd.array(np.random.RandomState(0).randn(5, 10))
    label = mx.nd.array([0, 3, 9, 2, 2], dtype='int32')
    eps = 0.1
    target = np.full((5, 10), eps / 10)
    target[np.arange(5), label.asnumpy()] += 1 - eps
    log_p = pred.asnumpy() - np.log(np.exp(pred.asnumpy()).sum(axis=1, keepdims=True))
    expected = -(target * log_p).sum(axis=1)
    assert SmoothedCrossEntropy(eps)(pred, label).asnumpy() == pytest.approx(expected, rel=1e-5)
    plain = gluon.loss.SoftmaxCrossEntropyLoss()(pred, label).asnumpy()
    assert SmoothedCrossEntropy(0.0)(pred, label).asnumpy() == pytest.approx(plain, rel=1e-6)


def test_nag_with_weight_decay_decays_the_old_weight():
    """Nesterov with decay, by hand: m = mu m - lr (g + wd w); w += mu m - lr (g + wd w)."""
    w0, g, lr, mu, wd = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, -1.0]), 0.1, 0.9, 0.01
    weight, grad = mx.nd.array(w0), mx.nd.array(g)
    opt = NAG(learning_rate=lr, momentum=mu, wd=wd)
    state = opt.create_state(0, weight)
    m = np.zeros(3)
    w = w0.copy()
    for _ in range(3):
        opt.update(0, weight, grad, state)
        step = lr * (g + wd * w)
        w = w + mu * (mu * m - step) - step
        m = mu * m - step
    assert weight.asnumpy() == pytest.approx(w, rel=1e-6)


def _sgd_steps(optimizer, steps=3):
    """The weights of a small network after ``steps`` trainer steps with ``optimizer``
    (the same seeded initial weights and batches every call)."""
    mx.random.seed(0)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3), gluon.nn.Dense(16, activation='relu'), gluon.nn.Dense(10))
    net.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), optimizer)
    rs = np.random.RandomState(0)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(steps):
        X, y = mx.nd.array(rs.rand(8, 1, 8, 8)), mx.nd.array(rs.randint(0, 10, 8))
        with mx.autograd.record():
            l = loss(net(X), y)
        l.backward()
        trainer.step(8)
    return [p.data().asnumpy() for p in net.collect_params().values()]


@pytest.mark.parametrize('momentum, wd', [(0.0, 0.0), (0.9, 0.0), (0.9, 5e-4), (0.0, 5e-4)])
def test_our_sgd_gives_mxnets_bits(momentum, wd):
    kwargs = dict(learning_rate=0.1, momentum=momentum, wd=wd)
    ours, theirs = _sgd_steps(SGD(**kwargs)), _sgd_steps(mx.optimizer.SGD(**kwargs))
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


@pytest.mark.parametrize('momentum', [0.0, 0.9])
def test_our_sgd_steps_each_weight_with_the_one_weight_kernel(momentum, monkeypatch):
    """The book's recipe (no momentum, no decay) and momentum never reach the
    slower multi-weight kernels."""
    def refused(*args, **kwargs):
        raise AssertionError('the multi-weight kernel was called')
    for module in (mx.nd, mx.optimizer.optimizer):  # the optimizer module imports them itself
        monkeypatch.setattr(module, 'multi_sgd_update', refused)
        monkeypatch.setattr(module, 'multi_sgd_mom_update', refused)
    _sgd_steps(SGD(learning_rate=0.1, momentum=momentum))
    with pytest.raises(AssertionError, match='multi-weight'):
        _sgd_steps(mx.optimizer.SGD(learning_rate=0.1, momentum=momentum))


# ---- the best epoch ----------------------------------------------------------------

def _weights(epoch, shape):
    return np.random.RandomState(epoch).uniform(-0.5, 0.5, shape).astype(np.float32)


def _export_and_predict_take_the_epoch(run_dir, epochs):
    """export writes, and predict prints, the network of the epoch asked for."""
    import contextlib
    import io
    from PIL import Image
    from vgg_gluon import TEXT_LABELS, export, predict
    image = os.path.join(run_dir, 'item.png')
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (28, 28)).astype(np.uint8)).save(image)
    printed = {}
    for name, epoch in epochs.items():
        out = os.path.join(run_dir, f'export-{name}')
        assert export.main([run_dir, '--epoch', name, '--no-onnx', '--out', out]) == 0
        exported = mx.nd.load(os.path.join(out, 'vgg-0000.params'))
        assert exported and all(np.array_equal(a.asnumpy(), _weights(epoch, a.shape))
                                for a in exported.values())
        with contextlib.redirect_stdout(io.StringIO()) as stdout:
            assert predict.main([run_dir, image, '--epoch', name, '--top-k', '10',
                                 '--invert', 'never']) == 0
        printed[name] = stdout.getvalue()
        net, config, _ = rundir.load_model(run_dir, epoch=name)
        X = to_batch(read_image(image)[None], config.resize)
        probabilities = predict_probabilities(net, X, mx.cpu())[0]
        shown = dict(item.rsplit(' ', 1) for item in
                     printed[name].strip().split(': ', 1)[1].split(', '))
        assert {label: float(p) for label, p in shown.items()} == pytest.approx(
            dict(zip(TEXT_LABELS, probabilities.tolist())), abs=6e-4)
    assert printed['best'] != printed['last']


@pytest.mark.slow
def test_the_best_epoch_is_kept_beside_the_last_and_loaded_on_request(tmp_path):
    config = Config(arch='1x8', ratio=1, resize=32, scale_dense=True, epochs=4,
                    out=str(tmp_path))
    net = build_net(config)
    net.initialize(ctx=mx.cpu())
    net(mx.nd.zeros((1, 1, 32, 32)))
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
    (tmp_path / 'config.json').write_text(json.dumps(config.to_dict()))
    writer = CheckpointWriter(str(tmp_path), config)
    saved = {}
    for epoch, acc in enumerate((0.5, 0.7, 0.6, 0.7), start=1):
        for p in net.collect_params().values():   # each epoch's weights: its own numbers
            p.set_data(mx.nd.array(_weights(epoch, p.shape)))
        manifest = writer.save(net, trainer, {'epoch': epoch, 'test_acc': acc, 'loss': 1.0})
        saved[epoch] = sorted(os.listdir(tmp_path / 'checkpoints'))
    assert manifest['best']['epoch'] == 2 and manifest['best']['test_acc'] == 0.7  # ties: earlier
    assert saved[3] == ['epoch-0002.params', 'epoch-0003.params', 'epoch-0003.states.nd']
    assert rundir.read_checkpoint(str(tmp_path))['best']['params'] == 'checkpoints/epoch-0002.params'
    best = rundir.load_model(str(tmp_path), epoch='best').net
    last = rundir.load_model(str(tmp_path)).net
    for net_, epoch in ((best, 2), (last, 4)):
        for p in net_.collect_params().values():
            np.testing.assert_array_equal(p.data().asnumpy(), _weights(epoch, p.shape))
    _export_and_predict_take_the_epoch(str(tmp_path), {'best': 2, 'last': 4})
    # a bettered best lets the old one go
    writer.save(net, trainer, {'epoch': 5, 'test_acc': 0.8, 'loss': 1.0})
    assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['epoch-0005.params',
                                                            'epoch-0005.states.nd']


@pytest.mark.slow
def test_a_changed_best_file_is_refused(tmp_path):
    test_the_best_epoch_is_kept_beside_the_last_and_loaded_on_request(tmp_path)
    with open(tmp_path / 'checkpoints' / 'epoch-0005.params', 'ab') as f:
        f.write(b'x')
    with pytest.raises(Exception) as err:
        rundir.read_checkpoint(str(tmp_path))
    assert 'manifest says' in str(err.value)


# ---- the progress bar -----------------------------------------------------------------

class _Recorder:
    """A bar that records what the loop tells it."""
    made = []

    def __init__(self, total, desc):
        self.total, self.desc, self.updates, self.closed = total, desc, [], False
        _Recorder.made.append(self)

    def update(self, loss_sum, correct, n):
        self.updates.append((loss_sum, correct, n))

    def close(self):
        self.closed = True


def test_the_bar_gets_every_batch_with_its_loss_and_the_same_totals(fmnist_dir, capsys):
    config = Config(arch='1x16,1x32', ratio=1, resize=32, scale_dense=True, epochs=1,
                    train_samples=600, test_samples=100, batch_size=64, data_dir=fmnist_dir)
    _Recorder.made = []
    net, trainer = training.build_model(config, [mx.cpu()])
    train_iter, test_iter = training.load_data(config)
    history = train_ch5(net, train_iter, test_iter, 64, trainer, mx.cpu(), 1,
                        options=TrainOptions(bar=_Recorder))
    bar, = _Recorder.made
    assert bar.total == 10 and bar.desc == 'epoch 1' and bar.closed
    assert [n for _, _, n in bar.updates] == [64] * 9 + [24]
    loss_sum = sum(l for l, _, _ in bar.updates)
    assert loss_sum / 600 == pytest.approx(history[0]['loss'], rel=1e-5)
    assert sum(c for _, c, _ in bar.updates) / 600 == pytest.approx(history[0]['train_acc'])


def test_the_tqdm_bar_shows_running_loss_and_accuracy(capsys):
    bar = training.ProgressBar(3, 'epoch 1')
    bar.update(2.0, 30, 64)
    bar.update(1.0, 40, 64)
    text = str(bar.tqdm)
    bar.close()
    assert '2/3' in text and 'loss 0.0234' in text and 'train acc 0.547' in text


def test_list_recipes_prints_the_measured_numbers(capsys):
    with pytest.raises(SystemExit) as exit:
        train.main(['--list-recipes'])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for name in ('seed000', 'fast', 'best'):
        assert f'recipe {name}:' in out
    assert 'measured' in out


# ---- mixed precision ------------------------------------------------------------------

def test_amp_on_cpu_is_refused_with_one_line_and_status_2(tmp_path, capsys):
    out = tmp_path / 'run'
    code = train.main(['--amp', '--gpus', 'cpu', '--out', str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count('\n') == 1 and '--amp' in err and 'GPU' in err
    assert not os.path.exists(out)


def test_flip_tta_averages_the_posteriors_of_the_image_and_its_mirror():
    from vgg_gluon.training.loop import scores
    net = build_net(Config(arch='1x8,1x16', ratio=1, resize=16, scale_dense=True))
    net.initialize(mx.init.Xavier())
    X = mx.nd.random.uniform(shape=(4, 1, 16, 16))
    expected = (net(X).softmax(axis=1) + net(X.flip(axis=3)).softmax(axis=1)) / 2
    assert np.allclose(scores(net, X, 'flip').asnumpy(), expected.asnumpy(), atol=1e-6)
    assert not np.allclose(expected.asnumpy(), net(X).softmax(axis=1).asnumpy(), atol=1e-4)
    assert np.array_equal(scores(net, X).asnumpy(), net(X).asnumpy())  # the book's: the outputs
    mirror_symmetric = X + X.flip(axis=3)
    assert np.allclose(scores(net, mirror_symmetric, 'flip').asnumpy(),
                       net(mirror_symmetric).softmax(axis=1).asnumpy(), atol=1e-6)


def test_a_tta_run_is_evaluated_with_flips_in_training_and_by_evaluate(fmnist_dir, tmp_path, capsys):
    from vgg_gluon import evaluate
    from vgg_gluon.training.loop import evaluate_accuracy
    out = str(tmp_path / 'run')
    assert train.main(['--arch', '1x8,1x16-bn', '--ratio', '1', '--resize', '28', '--scale-dense',
                       '--epochs', '1', '--train-samples', '256', '--test-samples', '200',
                       '--tta', 'flip', '--quiet', '--data-dir', fmnist_dir, '--out', out]) == 0
    recorded = rundir.load_config(out)
    assert recorded.tta == 'flip'
    logged = json.loads(open(os.path.join(out, 'metrics.jsonl')).readline())['test_acc']
    capsys.readouterr()
    assert evaluate.main([out, '--test-samples', '200', '--data-dir', fmnist_dir]) == 0
    printed = capsys.readouterr().out
    assert "the run's --tta flip" in printed
    assert json.load(open(os.path.join(out, 'evaluation.json')))['accuracy'] == pytest.approx(logged)
    # and the flips change the number: without them the same network scores otherwise
    from vgg_gluon.inference.confusion import test_iter_for
    net = rundir.load_model(out).net
    test_iter = test_iter_for(recorded, 200, 100, fmnist_dir)
    plain = evaluate_accuracy(test_iter, net, mx.cpu())
    assert evaluate_accuracy(test_iter, net, mx.cpu(), tta='flip') == pytest.approx(logged)
    assert plain != pytest.approx(logged)


def test_tta_takes_none_or_flip(capsys):
    with pytest.raises(ConfigError, match='must be one of none, flip') as refused:
        Config(tta='mirror').validate()
    assert refused.value.flag == 'tta'
    with pytest.raises(SystemExit) as stop:
        train.main(['--tta', 'mirror'])
    assert stop.value.code == 2
    assert "--tta: invalid choice: 'mirror'" in capsys.readouterr().err
