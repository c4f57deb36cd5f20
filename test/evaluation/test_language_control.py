"""The shuffled-instruction control: computed by `deer-ros evaluate`, and it defeats the expert.

The expert test drives the benchmark's own episode function (run_episode) with the scripted
expert behind the engine interface: told another target's instruction it goes there, so the
control's construction holds (<= 1/k for any instruction-following policy, here 0).
"""
import json

import pytest

from deer_ros.cli import main
from deer_ros.evaluation.control import control_checks, control_lines
from deer_ros.evaluation.episode import run_episode
from deer_ros.evaluation.suite import build_suite, default_families
from deer_ros.evaluation.summary import summarise_all
from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
from deer_ros.sim.tasks import get_task
from expert_engine import ExpertEngine

LANGUAGE_TASKS = ['push-color-v3', 'reach-color-v3']


def test_control_family_joins_only_for_language_tasks():
    assert 'control' in default_families(True) and 'control' not in default_families(False)
    suite = build_suite(3, 1.0, lambda budget: [0.1, 0.1, 0.1], (0.5,),
                        default_families(True))
    control = [c for c in suite if c.family == 'control']
    assert [(c.name, c.instruction) for c in control] == [('full-shuffled', 'shuffled')]
    assert all(c.instruction == 'given' for c in suite if c.family != 'control')


@pytest.mark.parametrize('task', LANGUAGE_TASKS)
def test_expert_told_the_shuffled_instruction_drops_to_at_most_one_in_k(task):
    sim = MetaWorldSim(SimConfig(static_size=16, gripper_size=16))
    engine = ExpertEngine(sim)
    try:
        given = [run_episode(sim, engine, task, s, 'full') for s in (0, 1)]
        shuffled = [run_episode(sim, engine, task, s, 'full-shuffled', instruction='shuffled')
                    for s in (0, 1)]
    finally:
        sim.close()
    assert all(r.success for r in given)
    assert all(a.instruction != b.instruction for a, b in zip(given, shuffled))
    assert all(r.ended_by == 'wrong_target' for r in shuffled)
    summaries = summarise_all(given + shuffled, ['full', 'full-shuffled'])
    (check,) = control_checks(summaries, {'full-shuffled': 'full'})
    assert check.given == 1.0 and check.shuffled <= 1.0 / get_task(task).targets
    assert check.shuffled == 0.0 and check.delta[0] == -1.0
    assert '1/k' in control_lines([check])


def test_evaluate_suite_runs_the_control_and_reports_it(tmp_path, capsys):
    out = tmp_path / 'bench'
    code = main(['evaluate', '--tasks', 'push-color-v3', 'hammer-v3', '--episodes-per-task',
                 '1', '--max-steps', '3', '--calibration-episodes', '1', '--configs', 'full',
                 'full-shuffled', '-o', str(out), '--no-progress', '--image-size', '16'])
    assert code == 0, capsys.readouterr().out
    data = json.loads((out / 'results.json').read_text())
    told = {(e['config'], e['task']): e['instruction'] for e in data['episodes']}
    push = get_task('push-color-v3')
    assert told['full', 'push-color-v3'] != told['full-shuffled', 'push-color-v3']
    assert {push.target_named(told[c, 'push-color-v3']) for c in ('full', 'full-shuffled')} \
        == {0, 1}
    assert told['full', 'hammer-v3'] == told['full-shuffled', 'hammer-v3']   # no other target
    summary = (out / 'summary.md').read_text()
    assert '### Shuffled-instruction control' in summary and 'on push-color-v3:' in summary


def test_unknown_suite_and_suite_with_tasks_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(['evaluate', '--suite', 'nope'])
    with pytest.raises(SystemExit):
        main(['evaluate', '--suite', 'depth', '--tasks', 'reach-v3'])
