"""The benchmark scripts run end to end (tiny settings, real data) and refuse bad input.

Speed itself is never asserted: these machines are noisy. The figures on the
docs site's Performance page (docs/performance.md) come from the full commands it
names, their outputs in benchmarks/results/.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow   # every test runs a benchmark script in a new process


def run(script, *args):
    """python -m benchmarks.NAME from the repository root, as docs/performance.md says."""
    env = dict(os.environ)
    env.pop('OMP_NUM_THREADS', None)  # as a user's shell would have it
    module = 'benchmarks.' + script[:-len('.py')]
    return subprocess.run([sys.executable, '-m', module, *args],
                          capture_output=True, text=True, env=env, cwd=ROOT)


def test_bench_train_measures_the_reference_vgg_gluon_and_the_gemm_peak():
    proc = run('bench_train.py', '--systems', 'reference,vgg_gluon,gemm', '--rounds', '1',
               '--steps', '1', '--warmup', '1', '--eval-batches', '1', '--gemm-n', '256', '--json')
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    systems = report['systems']
    for name in ('reference', 'vgg_gluon'):
        assert systems[name]['train_img_s'] > 0 and systems[name]['eval_img_s'] > 0
    assert systems['vgg_gluon']['vs_reference'] == pytest.approx(
        systems['vgg_gluon']['train_img_s'] / systems['reference']['train_img_s'])
    assert report['sgemm_peak_gflop_s'] > 0
    assert 0 < systems['vgg_gluon']['fraction_of_sgemm_peak']
    # the reference runs with MXNet's default threads, vgg_gluon with every core
    assert systems['reference']['runs'][0]['threads'] == 'MXNet default'
    assert systems['vgg_gluon']['runs'][0]['threads'] == str(len(os.sched_getaffinity(0)))


def test_bench_epoch_times_the_seed_code_and_vgg_gluon_on_a_slice():
    proc = run('bench_epoch.py', '--train-samples', '256', '--test-samples', '128', '--json')
    assert proc.returncode == 0, proc.stderr
    systems = json.loads(proc.stdout)['systems']
    assert set(systems) == {'seed000', 'vgg_gluon'}
    for s in systems.values():
        assert s['wall_s'] > s['epoch_s'] > 0   # start-up and data loading are included
        assert 0 < s['runs'][0]['test_acc'] <= 1


def test_launch_repeat_counts_the_launches_that_ran():
    proc = run('launch_repeat.py', '--launches', '1', '--', '--ratio', '8', '--train-samples', '256')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, last = proc.stdout.strip().splitlines()
    assert first.startswith('launch 1: status 0') and '] epoch 1, loss' in first
    assert last == '1 of 1 launches ran to the end'


@pytest.mark.parametrize('script, args, flag', [
    ('bench_train.py', ['--steps', '0'], '--steps'),
    ('bench_train.py', ['--systems', 'tensorflow'], '--systems'),
    ('bench_epoch.py', ['--rounds', 'two'], '--rounds'),
    ('bench_epoch.py', ['--base', 'not-a-commit'], '--base'),
    ('bench_settings.py', ['--variants', 'turbo'], '--variants'),
    ('seed000.py', ['--epochs', '0'], '--epochs'),
    ('profile_step.py', ['--steps', '0'], '--steps'),
    ('launch_repeat.py', ['--launches', '0'], '--launches'),
    ('bench_inference.py', ['--seconds', '0'], '--seconds'),
    ('bench_inference.py', ['--rounds', 'none'], '--rounds'),
])
def test_bad_input_is_one_line_and_status_2(script, args, flag):
    proc = run(script, *args)
    assert proc.returncode == 2
    assert proc.stderr.count('\n') == 1 and flag in proc.stderr and 'Traceback' not in proc.stderr


def test_time_to_accuracy_reports_the_first_epoch_at_each_target(tmp_path):
    proc = run('time_to_accuracy.py', '--recipes', 'fast,seed000', '--epochs', 'fast=2,seed000=1',
               '--seeds', 'fast=0,1', '--train-samples', '256', '--test-samples', '128', '--json',
               '--keep', str(tmp_path / 'kept'))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert list(report['runs']) == ['fast s0', 'fast s1', 'seed000']
    assert report['targets'] == [0.85, 0.88, 0.89, 0.90, 0.92]
    assert [len(r['epochs']) for r in report['runs'].values()] == [2, 2, 1]
    assert [r['seed'] for r in report['runs'].values()] == [0, 1, None]
    for run_ in report['runs'].values():
        times = [row['wall_s'] for row in run_['epochs']]
        assert 0 < times[0] <= times[-1] <= run_['wall_s']   # start-up counts, epochs in order
        assert '--recipe' in run_['command']
    assert '--seed 1' in report['runs']['fast s1']['command']
    from benchmarks.time_to_accuracy import format_report
    text = format_report(report)           # what it prints without --json: where, when, epochs
    assert text.startswith('# python -m benchmarks.time_to_accuracy --recipes fast,seed000 ')
    assert f"started {report['started']}, ended {report['ended']}" in text
    assert 'cores' in report['machine'] and report['machine'] in text
    for label, run_ in report['runs'].items():
        header = (f"## {label}: {run_['command']}; started {run_['started']}, "
                  f"ended {run_['ended']}\n")
        assert text.split(header)[1].startswith('epoch 1, loss')
    ref = report['runs']['seed000']['wall_s']
    for label in ('fast s0', 'fast s1'):
        wall = report['runs'][label]['wall_s']
        assert (f"# {label} / seed000 whole-process wall time: {wall:.0f} / {ref:.0f} = "
                f"1/{ref / wall:.1f}") in text
    kept = tmp_path / 'kept'
    assert (kept / 'fast_s1' / 'metrics.jsonl').is_file()
    assert 'epoch 2, loss' in (kept / 'fast_s0.log').read_text()
    from benchmarks.time_to_accuracy import first_reached
    rows = [{'epoch': 1, 'test_acc': 0.86, 'wall_s': 10.0}, {'epoch': 2, 'test_acc': 0.89,
                                                            'wall_s': 20.0}]
    assert [first_reached(rows, t) for t in (0.85, 0.88, 0.89, 0.9)] == [
        (10.0, 1), (20.0, 2), (20.0, 2), (None, None)]


def test_time_to_accuracy_ablation_runs_fast_with_each_part_changed(tmp_path, monkeypatch, capsys):
    from benchmarks import time_to_accuracy as tta
    ran = []

    def fake(name, args, out, epochs=None, seed=None, flags=(), may_fail=False):
        ran.append((name, seed, tuple(flags), may_fail))
        record = {'recipe': name, 'seed': seed, 'command': name, 'wall_s': 2.0,
                  'started': 'then', 'ended': 'later',
                  'epochs': [{'epoch': 1, 'test_acc': 0.9, 'wall_s': 1.0, 'line': 'epoch 1'}]}
        if len(ran) == 3:
            record.update(epochs=[], failed='the training loss became nan in epoch 1')
        return record
    monkeypatch.setattr(tta, 'run_recipe', fake)
    assert tta.main(['--recipes', 'fast', '--ablation', '--keep', str(tmp_path / 'k')]) == 0
    assert ran[0] == ('fast', None, (), False)
    assert ran[1:] == [('fast', 0, tuple(flags), True) for _, flags in tta.ABLATION]
    second = tta.ABLATION[1][0]
    assert f"{second}" in capsys.readouterr().out.split('# ablation')[1]
    for _, flags in tta.ABLATION:  # every row is a valid run of the fast recipe
        from vgg_gluon import train
        train.parse_config(['--recipe', 'fast', *flags])


def test_a_failed_ablation_row_says_why_and_the_table_goes_on():
    from benchmarks.time_to_accuracy import format_table
    runs = {'ok': {'epochs': [{'epoch': 1, 'test_acc': 0.9, 'wall_s': 5.0}], 'wall_s': 6.0},
            'bad': {'epochs': [], 'wall_s': 1.0, 'failed': 'the training loss became nan'}}
    table = format_table(runs, [0.89]).splitlines()
    assert table[1].split()[:4] == ['ok', '1', '0.900', '6'] and '5 s (ep 1)' in table[1]
    assert table[2].split(None, 2) == ['bad', '0', 'failed: the training loss became nan']


@pytest.mark.parametrize('flag, value', [('--seeds', 'fast=x'), ('--epochs', '0'),
                                         ('--seeds', 'fastest=1')])
def test_time_to_accuracy_refuses_bad_seeds_and_epochs(flag, value):
    proc = run('time_to_accuracy.py', flag, value)
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and flag in proc.stderr


def test_time_to_accuracy_refuses_an_unknown_recipe():
    proc = run('time_to_accuracy.py', '--recipes', 'fastest')
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and 'fastest' in proc.stderr


def test_bench_progress_times_epochs_with_and_without_the_bar():
    proc = run('bench_progress.py', '--train-samples', '256', '--test-samples', '64',
               '--rounds', '1', '--json')
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report['header'].startswith('# python -m benchmarks.bench_progress --train-samples 256')
    assert 'cores' in report['header'] and 'load average at start: ' in report['header']
    assert set(report['median_s']) == {'no bar', 'bar'}
    assert report['bar_vs_no_bar'] > 0
    honest, = report['honesty']
    # the bar passes its last batch no earlier than the iterator hands it out
    assert honest['enqueue_100_s'] <= honest['bar_100_s'] <= honest['epoch_s']
    ahead, = report['iterator_without_bar']
    assert 0 < ahead['enqueue_50_s'] <= ahead['enqueue_100_s'] <= ahead['epoch_s']


def test_bench_augment_sets_each_augmentation_beside_a_training_step():
    proc = run('bench_augment.py', '--sizes', '32', '--batch-size', '16', '--repeats', '1',
               '--json')
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)['header'].startswith('# python -m benchmarks.bench_augment --sizes 32')
    report = json.loads(proc.stdout)['32']
    assert set(report['augment_ms']) == {'resized-crop', 'crop', 'flip', 'erase',
                                         'crop,flip', 'crop,flip,erase'}
    assert report['train_step_ms'] > 0 and all(v > 0 for v in report['augment_ms'].values())
    bad = run('bench_augment.py', '--sizes', '64')
    assert bad.returncode == 2 and bad.stderr.count('\n') == 1 and '--sizes' in bad.stderr


def test_epoch_breakdown_times_every_phase_of_a_short_epoch():
    proc = run('epoch_breakdown.py', '--train-samples', '256', '--test-samples', '64')
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split('of whole\n')[1]
    phases = [line.split()[0] for line in table.splitlines()[:9]]
    assert phases == ['import', 'data', 'build', 'pipeline', 'steps', 'loop', 'evaluation',
                      'rest', 'whole']
    assert ' batches: ' in proc.stdout and '# recipe fast, one epoch' in proc.stdout


def test_bench_inference_times_four_paths_at_two_batch_sizes():
    proc = run('bench_inference.py', '--rounds', '1', '--seconds', '0.01', '--calib-images', '32',
               '--json')
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report['images_per_second']) == {'plain fp32', 'fused fp32', 'int8', 'onnxruntime'}
    for rates in report['images_per_second'].values():
        assert set(rates) == {'1', '256'} and all(r > 0 for r in rates.values())
    agreement = report['agreement_with_plain']
    assert agreement['fused fp32'] == agreement['onnxruntime'] == 1.0
    assert agreement['int8'] > 0.95
