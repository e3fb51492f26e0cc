"""Memory before a run: the estimate's terms, sizes on the command line, the
check against what training really adds to resident memory, the warning."""
import json

import pytest

import vgg_gluon  # noqa: F401  (before mxnet)
import mxnet as mx

from benchmarks import memory_check
from vgg_gluon import summary, train
from vgg_gluon.training import memory, runner as training
from vgg_gluon.config import Config
from vgg_gluon.errors import ConfigError
from vgg_gluon.models.layer_table import summarize

BOOK = summarize('vgg11', ratio=4, resize=96)   # the book's network
TERMS = ('parameters_bytes', 'gradients_bytes', 'optimizer_states_bytes', 'activations_bytes',
         'backward_bytes', 'evaluation_bytes')


@pytest.mark.parametrize('text, size', [
    ('8GiB', 8 * 2 ** 30), ('512 MiB', 512 * 2 ** 20), ('1.5GB', 1_500_000_000),
    ('100B', 100), ('4kib', 4096), ('2KB', 2000), ('0.5TiB', 2 ** 39), ('16gb', 16 * 10 ** 9)])
def test_sizes_in_binary_and_decimal_units(text, size):
    assert memory.parse_size(text) == size


@pytest.mark.parametrize('text', ['8', 'GiB', '8XB', '-1GiB', '0GiB', '8 G iB', '', 'eight GiB'])
def test_bad_sizes_name_the_flag(text):
    with pytest.raises(ConfigError, match='must be a size') as err:
        memory.parse_size(text)
    assert err.value.flag == 'memory'


def test_format_size():
    assert memory.format_size(512) == '512 B'
    assert memory.format_size(1536) == '1.50 KiB'
    assert memory.format_size(3 * 2 ** 30) == '3.00 GiB'
    assert memory.format_size(123 * 2 ** 20) == '123.0 MiB'


@pytest.mark.parametrize('optimizer, momentum, copies', [
    ('sgd', 0.0, 0), ('sgd', 0.9, 1), ('nag', 0.0, 0), ('nag', 0.9, 1), ('adam', 0.0, 2)])
def test_optimizer_states(optimizer, momentum, copies):
    m = memory.estimate(BOOK, 128, optimizer, momentum)
    assert m['optimizer_states_bytes'] == copies * m['gradients_bytes']


def test_optimizer_copies_match_mxnets_own_states():
    """The copies counted are the arrays MXNet's optimizers create."""
    weight = mx.nd.zeros((3, 4))
    for name, kwargs, copies in [('sgd', {}, 0), ('sgd', {'momentum': 0.9}, 1), ('nag', {}, 0),
                                 ('nag', {'momentum': 0.9}, 1), ('adam', {}, 2)]:
        state = mx.optimizer.create(name, **kwargs).create_state(0, weight)
        arrays = [] if state is None else [state] if isinstance(state, mx.nd.NDArray) else state
        assert len(arrays) == copies, name
        assert memory.optimizer_state_copies(name, kwargs.get('momentum', 0.0)) == copies


def test_the_total_is_the_sum_and_grows_with_the_batch():
    m = memory.estimate(BOOK, 128)
    assert m['total_bytes'] == sum(m[t] for t in TERMS)
    assert m['activations_bytes'] == sum(a['bytes'] for a in m['activations'])
    assert [a['part'] for a in m['activations']] == ['input'] + [
        f'block {b}' for b in range(1, 6)] + ['head']
    assert m['parameters_bytes'] == 4 * 22_121_802 == m['gradients_bytes']
    assert m['total_bytes'] == m['fixed_bytes'] + 128 * m['per_image_bytes']
    # the input batch: 128 images of 1 x 96 x 96 float32
    assert m['activations'][0]['bytes'] == 128 * 96 * 96 * 4
    # block 1: conv1_1 (16 x 96 x 96), its max-pooling's output and workspace (16 x 48 x 48 each)
    assert m['activations'][1]['bytes'] == 128 * 4 * (16 * 96 * 96 + 2 * 16 * 48 * 48)


def test_batchnorm_running_statistics_have_no_gradient():
    m = memory.estimate(summarize('vgg11-bn', 8, 32), 4)
    assert m['parameters_bytes'] > m['gradients_bytes']


def test_largest_batch_is_the_largest_that_fits():
    m = memory.estimate(BOOK, 128)
    for available in (2 ** 30, 3 * 2 ** 30, int(m['fixed_bytes'] + 5.5 * m['per_image_bytes'])):
        n = memory.largest_batch(m, available)
        assert memory.estimate(BOOK, n)['total_bytes'] <= available
        assert memory.estimate(BOOK, n + 1)['total_bytes'] > available
    assert memory.largest_batch(m, m['fixed_bytes'] - 1) == 0


def test_summary_prints_the_estimate(capsys):
    assert summary.main(['--ratio', '4', '--resize', '96', '--batch-size', '128']) == 0
    text = capsys.readouterr().out
    for word in ('parameters', 'gradients', 'optimizer states', 'activations kept',
                 'block 5', 'head', 'backward', 'total'):
        assert word in text
    assert summary.main(['--ratio', '4', '--resize', '96']) == 0
    assert 'training memory' not in capsys.readouterr().out   # only when asked


def test_summary_json_memory_and_budget(capsys):
    argv = ['--ratio', '4', '--resize', '96', '--batch-size', '128', '--json',
            '--optimizer', 'nag', '--momentum', '0.9']
    assert summary.main(argv + ['--memory', '8GiB']) == 0
    m = json.loads(capsys.readouterr().out)['memory']
    assert m['total_bytes'] == sum(m[t] for t in TERMS)
    assert m['optimizer_states_bytes'] == m['gradients_bytes']   # momentum: one copy
    assert m['available_bytes'] == 8 * 2 ** 30 and m['fits'] is True
    assert m['largest_batch'] == memory.largest_batch(m, 8 * 2 ** 30) > 128
    assert summary.main(argv + ['--memory', '300MiB']) == 0
    m = json.loads(capsys.readouterr().out)['memory']
    assert m['fits'] is False and 0 < m['largest_batch'] < 128
    assert summary.main(['--ratio', '4', '--resize', '96', '--memory', '1GB']) == 0
    assert 'batch 128 per device' in capsys.readouterr().out  # --memory alone: the book's batch


@pytest.mark.parametrize('argv, flag', [
    (['--memory', '8'], '--memory'), (['--memory', '8 parsecs'], '--memory'),
    (['--batch-size', '0'], '--batch-size'), (['--momentum', '1'], '--momentum'),
    (['--momentum', 'x'], '--momentum'), (['--optimizer', 'rmsprop'], '--optimizer'),
    (['--optimizer', 'adam', '--momentum', '0.9'], '--momentum')])
def test_summary_refuses_bad_memory_flags(argv, flag, capsys):
    try:
        status = summary.main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    assert status == 2
    err = capsys.readouterr().err
    assert flag in err and err.count('\n') == 1 and 'Traceback' not in err


@pytest.mark.slow
def test_estimate_within_a_third_of_measured_growth():
    """What training really adds to the peak resident memory of a fresh process,
    against the estimate: the book's network at its batch of 128, AlexNet at
    224 px, VGG-16 with batch norm (memory is not timing: this is stable)."""
    for config in memory_check.QUICK:
        row = memory_check.check(config)
        assert 2 / 3 <= row['ratio'] <= 4 / 3, row


# ---- the warning before training -------------------------------------------------

TINY = ['--arch', '1x8,1x8,1x8,1x8,1x8', '--ratio', '1', '--resize', '32', '--epochs', '1',
        '--train-samples', '32', '--test-samples', '16', '--gpus', 'cpu', '--quiet']


def test_training_warns_when_the_estimate_exceeds_free_memory(tmp_path, monkeypatch, capsys):
    meminfo = tmp_path / 'meminfo'
    meminfo.write_text('MemTotal:       16000000 kB\nMemAvailable:       1000 kB\n')
    monkeypatch.setattr(memory, 'MEMINFO', str(meminfo))
    monkeypatch.setattr(memory, 'CGROUP', str(tmp_path / 'no-cgroup'))
    assert train.main(TINY + ['--batch-size', '16', '--out', str(tmp_path / 'run')]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if 'warning' in line]
    assert len(warnings) == 1 and captured.err.count('\n') == 1
    assert 'cpu(0) has 1000.0 KiB available' in warnings[0]
    assert 'no batch would fit' in warnings[0] and 'going on with batch 16' in warnings[0]
    assert 'epoch 1, loss' in captured.out                        # --batch-size wins: it trained
    assert json.loads((tmp_path / 'run' / 'config.json').read_text())['batch_size'] == 16


def test_the_warning_names_a_batch_that_fits(tmp_path, monkeypatch, capsys):
    config = Config(arch='1x8,1x8,1x8,1x8,1x8', ratio=1, resize=32, batch_size=4096, gpus='cpu')
    m = memory.estimate(summarize(config.arch, 1, 32), 4096)
    available = m['fixed_bytes'] + 1000 * m['per_image_bytes']
    monkeypatch.setattr(memory, 'cpu_available', lambda: available)
    short = memory.check_training(config)
    assert short['largest_batch'] == 1000 and short['estimate_bytes'] == m['total_bytes']
    monkeypatch.setattr(training, 'run', lambda config, resume, say=None: None)  # the warning only
    assert train.main(TINY + ['--batch-size', '4096', '--out', str(tmp_path / 'run')]) == 0
    err = capsys.readouterr().err
    assert '--batch-size 1000 would fit; going on with batch 4096' in err


def test_no_warning_when_it_fits(tmp_path, capsys):
    assert memory.check_training(Config(gpus='cpu')) is None   # the book's run, 24 GiB here
    assert train.main(TINY + ['--batch-size', '16', '--out', str(tmp_path / 'run')]) == 0
    assert 'warning' not in capsys.readouterr().err


def test_gpu_memory_as_mxnet_reports_it(monkeypatch):
    """The GPU path with a fake mx.context.gpu_memory_info (no usable GPU here)."""
    asked = []

    def fake_gpu_memory_info(device_id=0):
        asked.append(device_id)
        return 300 * 2 ** 20, 16 * 2 ** 30   # (free, total) bytes, as MXNet returns them

    monkeypatch.setattr(mx.context, 'gpu_memory_info', fake_gpu_memory_info)
    assert memory.available_memory(mx.gpu(1)) == 300 * 2 ** 20 and asked == [1]
    config = Config(batch_size=256, gpus='0,1')
    short = memory.check_training(config, ctxs=[mx.gpu(0), mx.gpu(1)])
    assert short['device'] == 'gpu(0)' and short['available_bytes'] == 300 * 2 ** 20
    per_device = memory.estimate(BOOK, 128)   # 256 split over two GPUs
    assert short['estimate_bytes'] == per_device['total_bytes']
    assert short['largest_batch'] == 2 * memory.largest_batch(per_device, 300 * 2 ** 20)

    def no_gpu(device_id=0):
        raise mx.base.MXNetError('no GPU')

    monkeypatch.setattr(mx.context, 'gpu_memory_info', no_gpu)
    assert memory.available_memory(mx.gpu(0)) is None
    assert memory.check_training(config, ctxs=[mx.gpu(0)]) is None   # unknown: no warning


def test_cpu_memory_sources(tmp_path, monkeypatch):
    meminfo = tmp_path / 'meminfo'
    meminfo.write_text('MemTotal:       16000000 kB\nMemFree:   100 kB\nMemAvailable:  2000000 kB\n')
    cgroup = tmp_path / 'cgroup'
    cgroup.mkdir()
    monkeypatch.setattr(memory, 'MEMINFO', str(meminfo))
    monkeypatch.setattr(memory, 'CGROUP', str(cgroup))
    assert memory.cpu_available() == 2_000_000 * 1024
    (cgroup / 'memory.max').write_text('max\n')               # no limit
    (cgroup / 'memory.current').write_text('1000\n')
    assert memory.cpu_available() == 2_000_000 * 1024
    (cgroup / 'memory.max').write_text(f'{2 ** 30}\n')        # a container's limit, lower
    assert memory.cpu_available() == 2 ** 30 - 1000
    monkeypatch.setattr(memory, 'MEMINFO', str(tmp_path / 'missing'))   # not Linux
    (cgroup / 'memory.max').write_text('max\n')
    assert memory.cpu_available() > 0   # free pages from sysconf


def test_the_benchmarks_commands_print_its_estimates(capsys):
    """Each row's command, run, gives the estimate the row compares (memory_check)."""
    for config in memory_check.CONFIGS + memory_check.QUICK:
        argv = memory_check.summary_command(*config).split()[3:] + ['--json']
        assert summary.main(argv) == 0
        printed = json.loads(capsys.readouterr().out)['memory']['total_bytes']
        arch, ratio, resize, batch_size, optimizer, momentum = config
        assert printed == memory.estimate(summarize(arch, ratio, resize), batch_size,
                                          optimizer, momentum)['total_bytes']
