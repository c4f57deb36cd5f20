"""Episode phases (approach / contact / transport) and the summary's "Depth per phase" section.

The pure tests label hand-made position sequences; the episode test drives the benchmark's own
episode function (run_episode) on a real MetaWorldSim with the scripted expert behind the
engine's interface, so a real grasp-and-carry happens and all three phases occur.
"""
import pytest

from deer_ros.evaluation.episode import EpisodeResult, run_episode
from deer_ros.evaluation.phase_report import phase_section
from deer_ros.evaluation.phases import (depth_by_phase, expand, failure_phases, PhaseLabeller,
                                        PhaseRules, run_length)
from deer_ros.evaluation.suite import EvalConfig
from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
from deer_ros.sim.tasks import get_task
from expert_engine import ExpertEngine

START = (0.0, 0.6, 0.02)


def _labels(hands, objs, closed, moves_object=True):
    labeller = PhaseLabeller(moves_object)
    return [labeller.label(h, o, c) for h, o, c in zip(hands, objs, closed)]


def test_label_rules_on_hand_made_positions():
    far, near, above = (0.0, 0.4, 0.2), (0.0, 0.6, 0.05), (0.0, 0.6, 0.1)
    assert _labels([far], [START], [False]) == ['approach']
    assert _labels([near], [START], [False]) == ['contact']
    assert _labels([above], [START], [True]) == ['contact']     # 8 cm: only while closing
    assert _labels([above], [START], [False]) == ['approach']
    lifted = (0.0, 0.6, 0.1)
    assert _labels([near, lifted], [START, lifted], [True, True]) == ['contact', 'transport']
    assert _labels([near, far], [START, START], [False] * 2) == ['contact', 'approach']
    assert _labels([near], [START], [True], moves_object=False) == ['approach']   # reach


def test_an_object_settling_before_the_hand_arrives_is_not_transport():
    settled = (0.0, 0.6, -0.03)       # e.g. MetaWorld's hammer drops ~3 cm after the reset
    hands = [(0.0, 0.4, 0.2), (0.0, 0.6, 0.0), (0.0, 0.6, 0.02)]
    objs = [START, settled, (0.0, 0.6, 0.0)]
    assert _labels(hands, objs, [False, True, True]) == ['approach', 'contact', 'transport']


def test_a_hand_made_pick_sequence_runs_approach_contact_transport():
    hands = [(0.0, 0.6 - 0.05 * k, 0.2) for k in range(4, 0, -1)] + [(0.0, 0.6, 0.03)] * 2
    objs = [START] * len(hands)
    hands += [(0.0, 0.6, 0.03 + 0.02 * k) for k in range(1, 4)]
    objs += [(0.0, 0.6, 0.02 + 0.02 * k) for k in range(1, 4)]
    closed = [False] * 5 + [True] * 4
    labels = _labels(hands, objs, closed)
    runs = run_length(labels)
    assert [r[0] for r in runs] == ['approach', 'contact', 'transport']
    assert expand(runs) == labels and sum(r[1] for r in runs) == len(labels)


def test_bad_rules_and_labels_are_refused():
    with pytest.raises(ValueError):
        PhaseRules(contact_radius_m=0.2, grasp_radius_m=0.1)
    with pytest.raises(ValueError):
        run_length(['approach', 'lift'])


def _episode(config, success, exits, phases, task='pick-place-v3'):
    return EpisodeResult(config, task, 0, success, len(exits), 1.0, exits=exits,
                         layers=[2 * (k + 1) for k in exits], skipped=[0] * len(exits),
                         phases=phases)


def test_depth_and_failures_per_phase():
    deer = _episode('deer-0.33', True, [0, 0, 3, 3, 1], [['approach', 2], ['contact', 2],
                                                         ['transport', 1]])
    depth = depth_by_phase([deer])['pick-place-v3']
    assert depth['contact'].mean_exit == 3.0 and depth['approach'].share == pytest.approx(0.4)
    failed = _episode('fixed-0', False, [0] * 3, [['approach', 1], ['contact', 2]])
    fails = failure_phases([failed, _episode('fixed-0', True, [0], [['approach', 1]])])
    assert fails['pick-place-v3'] == {'approach': 0, 'contact': 1, 'transport': 0}
    old = EpisodeResult.from_dict({k: v for k, v in deer.to_dict().items() if k != 'phases'})
    assert old.phases == []             # results.json written before phases still loads


def test_phase_section_has_one_table_per_per_frame_config_and_the_fixed_failures():
    configs = [EvalConfig('fixed-0', 'fixed', 'first exit'), EvalConfig('deer-0.33', 'deer', 'x')]
    text = phase_section([_episode('deer-0.33', True, [0, 2], [['approach', 1], ['contact', 1]]),
                          _episode('fixed-0', False, [0], [['contact', 1]])], configs)
    assert '#### `deer-0.33`' in text
    assert '| pick-place-v3 | exit 0.00 (50%) | exit 2.00 (50%) | - |' in text
    assert '| pick-place-v3 | - | `fixed-0` 1 | - | `fixed-0` 1/1 |' in text


def test_real_expert_episodes_go_approach_contact_transport():
    assert get_task('pick-place-v3').moves_object and not get_task('reach-color-v3').moves_object
    sim = MetaWorldSim(SimConfig(static_size=32, gripper_size=32, max_steps=150))
    try:
        result = run_episode(sim, ExpertEngine(sim), 'pick-place-v3', 0, 'expert')
        hammer = run_episode(sim, ExpertEngine(sim), 'hammer-v3', 0, 'expert')
        reach = run_episode(sim, ExpertEngine(sim), 'reach-color-v3', 0, 'expert')
    finally:
        sim.close()
    for episode in (result, hammer):      # the hammer settles after the reset: not transport
        seen = [phase for phase, _ in episode.phases]
        first = {p: seen.index(p) for p in ('approach', 'contact', 'transport')}
        assert first['approach'] < first['contact'] < first['transport'], episode.phases
    assert sum(n for _, n in result.phases) == len(result.exits) == result.steps
    assert [p for p, _ in reach.phases] == ['approach']
