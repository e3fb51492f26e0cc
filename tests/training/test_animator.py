"""The live learning curve: Animator's redraws, LiveCurve's points from train_ch5, and in a
real Jupyter kernel one image output replaced in place."""
import itertools
import queue

import pytest

import vgg_gluon  # noqa: F401  (before mxnet: numpy names, threads)
import mxnet as mx
from mxnet import gluon, init
from mxnet.gluon import nn

from vgg_gluon import TrainOptions, train_ch5
from vgg_gluon.training.animator import Animator, LiveCurve

PNG = b'\x89PNG\r\n\x1a\n'


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_first_point_draws_then_at_most_every_interval_and_close_draws_the_rest():
    shown, clock = [], Clock()
    animator = Animator(every=1.0, show=shown.append, clock=clock)
    animator.add(0.5, (2.0, 0.3, None))
    assert len(shown) == 1 and shown[0].startswith(PNG)
    clock.now = 0.4
    animator.add(1.0, (1.5, 0.5, 0.6))          # within the interval: not drawn yet
    assert len(shown) == 1
    clock.now = 1.2
    animator.add(1.5, (1.2, 0.6, None))          # the interval passed: drawn
    assert len(shown) == 2
    clock.now = 1.3
    animator.add(2.0, (1.0, 0.7, 0.72))
    animator.close()                              # the last point is never left undrawn
    assert len(shown) == 3
    animator.close()                              # nothing new: no draw
    assert len(shown) == 3
    assert animator.X == [[0.5, 1.0, 1.5, 2.0], [0.5, 1.0, 1.5, 2.0], [1.0, 2.0]]
    assert animator.Y[2] == [0.6, 0.72]


def test_wrong_number_of_values_is_refused():
    with pytest.raises(ValueError, match='2 values for 3 series'):
        Animator(show=lambda png: None).add(1, (0.1, 0.2))


def test_outside_jupyter_nothing_is_shown_but_the_figure_saves(tmp_path):
    animator = Animator()
    assert animator.show is None                  # pytest is not a Jupyter kernel
    animator.add(1, (0.5, 0.8, 0.7))
    animator.close()
    assert animator.draws == 0
    animator.save(tmp_path / 'curve.png')
    assert (tmp_path / 'curve.png').read_bytes().startswith(PNG)


class Bar:
    def __init__(self, total, desc):
        self.total, self.desc, self.updates, self.closed = total, desc, 0, False
        BARS.append(self)

    def update(self, loss_sum, correct, n):
        self.updates += 1

    def close(self):
        self.closed = True


BARS = []


def test_live_curve_gets_per_epoch_points_from_train_ch5_and_every_batch_reaches_the_bar():
    """A tiny network on synthetic batches (the points' x and values, not learning)."""
    BARS.clear()
    mx.random.seed(0)
    X = mx.nd.random.uniform(shape=(40, 1, 4, 4))
    y = mx.nd.array([i % 10 for i in range(40)])
    train_iter = gluon.data.DataLoader(gluon.data.ArrayDataset(X, y), batch_size=4)  # 10 batches
    test_iter = gluon.data.DataLoader(gluon.data.ArrayDataset(X, y), batch_size=8)
    net = nn.Sequential()
    net.add(nn.Dense(10))
    net.initialize(init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
    shown = []
    curve = LiveCurve(3, per_epoch=5, bar=Bar,
                      animator=Animator(every=0.0, show=shown.append))
    history = train_ch5(net, train_iter, test_iter, 4, trainer, mx.cpu(), 3,
                        options=TrainOptions(bar=curve.bar, on_epoch_end=curve.on_epoch_end))
    animator = curve.animator
    # five points an epoch (every second batch of ten), at epoch + done/total
    expected = [e + k / 5 for e in range(3) for k in range(1, 6)]
    assert animator.X[0] == pytest.approx(expected) and animator.X[1] == animator.X[0]
    assert animator.X[2] == [1, 2, 3]
    assert animator.Y[2] == [r['test_acc'] for r in history]
    # an epoch's last point is its running mean: the record's loss and train accuracy
    for epoch, record in enumerate(history):
        last = 5 * epoch + 4
        assert animator.Y[0][last] == pytest.approx(record['loss'], rel=1e-5)
        assert animator.Y[1][last] == pytest.approx(record['train_acc'])
    assert [b.updates for b in BARS] == [10, 10, 10] and all(b.closed for b in BARS)
    assert [b.desc for b in BARS] == ['epoch 1', 'epoch 2', 'epoch 3']
    assert len(shown) == 3 * 5 + 3                  # every point drawn (every=0)


def test_a_resumed_run_starts_its_points_after_the_epochs_done():
    curve = LiveCurve(5, start_epoch=2, per_epoch=2)   # its own Animator (shows nothing here)
    bar = curve.bar(4, 'epoch 3')
    for _ in range(4):
        bar.update(2.0, 1, 4)
    curve.on_epoch_end({'epoch': 3, 'test_acc': 0.5})
    assert curve.animator.X[0] == [2.5, 3.0] and curve.animator.X[2] == [3]
    assert curve.animator.xlim == (2, 5)


def test_in_a_jupyter_kernel_the_curve_is_one_output_replaced_in_place():
    """A real IPython kernel (this environment's): the first draw is a display_data with a
    display_id, every later one an update_display_data of that id: one figure in the cell."""
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name='python3')
    try:
        code = ('import vgg_gluon\n'
                'from vgg_gluon.training.animator import Animator\n'
                'a = Animator(every=0.0)\n'
                'for i in range(4):\n'
                '    a.add(i + 1, (1.0 / (i + 1), 0.2 * i, 0.2 * i))\n')
        msg_id = kc.execute(code)
        messages = []
        for _ in itertools.count():
            try:
                msg = kc.get_iopub_msg(timeout=120)
            except queue.Empty:
                pytest.fail('the kernel went quiet: ' + repr(messages[-3:]))
            if msg['parent_header'].get('msg_id') != msg_id:
                continue
            if msg['msg_type'] == 'status' and msg['content']['execution_state'] == 'idle':
                break
            messages.append(msg)
        assert not [m for m in messages if m['msg_type'] == 'error'], messages
        shows = [m for m in messages if m['msg_type'] in ('display_data', 'update_display_data')]
        assert [m['msg_type'] for m in shows] == ['display_data'] + ['update_display_data'] * 3
        ids = {m['content']['transient']['display_id'] for m in shows}
        assert len(ids) == 1
        import base64
        assert all(base64.b64decode(m['content']['data']['image/png']).startswith(PNG)
                   for m in shows)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
