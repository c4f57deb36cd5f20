"""DeeR's criterion and threshold calibration against hand-computed examples."""
import math

import numpy as np
import pytest

from deer_ros.policies.calibration import (exit_costs, exit_proportions, expected_average,
                                           greedy_thresholds, realised_average, solve_budget,
                                           taken_exits)
from deer_ros.policies.calibration_file import Calibration, load_calibration, save_calibration
from deer_ros.policies.criterion import (consistency_value, consistency_values,
                                         first_exit_taken, should_exit)
from deer_ros.policies.example import ExampleModel, example_frames
from deer_ros.policies.values import ValueSamples, episode_values, frame_values


def test_rms_mean_max_match_hand_values():
    a = np.array([0.1, -0.2, 0.0, 0.0, 0.3, 0.0])
    b = np.zeros(6)
    assert consistency_value(a, b) == pytest.approx(math.sqrt((0.01 + 0.04 + 0.09) / 6))
    assert consistency_value(a, b, 'mean') == pytest.approx(0.6 / 6)
    assert consistency_value(a, b, 'max') == pytest.approx(0.3)
    # 7-D actions: the gripper is ignored
    assert consistency_value(np.append(a, 1.0), np.append(b, -1.0)) == \
        pytest.approx(consistency_value(a, b))
    with pytest.raises(ValueError):
        consistency_value(a, b, 'cosine')


def test_exit_is_inclusive_and_forced_at_the_deepest_allowed_exit():
    assert should_exit(0.05, 0.05, False)
    assert not should_exit(0.0500001, 0.05, False)
    assert should_exit(99.0, -1e8, True)
    # first exit compares against layer 0: values of rows [layer0, e1, e2]
    poses = np.array([[0.0] * 6, [0.6] * 6, [0.61] * 6])
    values = consistency_values(poses)
    assert values == pytest.approx([0.6, 0.01])
    assert first_exit_taken(values, [0.5, 0.02]) == 1
    assert first_exit_taken(values, [0.7, 0.0]) == 0
    assert first_exit_taken([0.9, 0.9], [0.1]) == 1       # forced last


def test_exp_prior_matches_deer_numbers():
    p = exit_proportions(6, 0.8)
    assert p == pytest.approx([.271, .217, .173, .139, .111, .089], abs=1e-3)
    # DeeR notes: q=0.8, exits [1,3,...,11] -> about 5.7 layers on average (5.737)
    assert expected_average(p, [2, 4, 6, 8, 10, 12]) == pytest.approx(5.74, abs=0.01)
    assert exit_proportions(3, 1.0) == pytest.approx([1 / 3] * 3)


def test_gauss_and_gamma_priors_follow_deer_definitions():
    g = np.exp(-(np.arange(4) - 1.5) ** 2 / 2)            # 0-based index, centre q, sigma 1
    assert exit_proportions(4, 1.5, 'gauss') == pytest.approx(g / g.sum())
    x = np.arange(1, 5)
    pdf = x ** (3.0 - 1) * np.exp(-x / 2.0) / (math.gamma(3.0) * 2.0 ** 3)   # shape 3, scale 2
    assert exit_proportions(4, 3.0, 'gamma') == pytest.approx(pdf / pdf.sum())
    assert exit_proportions(3, 0.5, disable_first=True)[0] == 0.0


def test_greedy_thresholds_hand_example():
    values = np.array([
        [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 1.0],   # exit 1
        [0.5, 0.9, 0.1, 0.9, 0.3, 0.9, 0.2, 0.9, 0.4, 0.6],   # exit 2
        [0.0] * 10,                                           # exit 3 (forced)
    ])
    t = greedy_thresholds(values, [0.3, 0.3, 0.4])
    # exit 1: floor(10*0.3)=3rd smallest of row 0 -> 0.3; frames 1,3,5 exit
    # exit 2: among frames left {0,2,4,6,7,8,9} by row 1: .1(2) .2(6) .3(4) -> 0.3
    assert t.tolist() == [0.3, 0.3, 1e8]
    assert taken_exits(values, t).tolist() == [2, 0, 1, 0, 1, 0, 1, 2, 2, 2]


def test_greedy_thresholds_never_exit_cases():
    values = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.0, 0.0, 0.0]])
    # floor(3 * 0.2) = 0 -> -1e8 for exit 1; exit 2: floor(2.1) = 2 frames
    t = greedy_thresholds(values, [0.2, 0.7, 0.1])
    assert t[0] == -1e8 and t[1] == 0.2 and t[2] == 1e8
    # DeeR quirk: a rank beyond the frames left also leaves -1e8 (ties exited more)
    tied = np.array([[0.1, 0.1, 0.1, 0.5], [0.2, 0.2, 0.2, 0.2], [0, 0, 0, 0]])
    t = greedy_thresholds(tied, [0.25, 0.5, 0.25])
    assert t[0] == 0.1 and t[1] == -1e8


def test_exit_costs_count_layers_and_head_evaluations():
    costs = exit_costs([1, 3], [1.0, 2.0, 3.0, 4.0], 0.5)
    assert costs.tolist() == [3.0 + 2 * 0.5, 10.0 + 3 * 0.5]


@pytest.mark.parametrize('prior', ['exp', 'gamma'])
@pytest.mark.parametrize('fraction', [0.3, 0.5, 0.7])
def test_q_solve_hits_the_target_within_2_percent(prior, fraction):
    rng = np.random.default_rng(1)
    n = 3000
    scale = np.exp(rng.normal(0, 0.6, n))                   # per-frame difficulty
    values = np.stack([scale * 0.7 ** k * np.exp(rng.normal(0, 0.3, n)) for k in range(6)])
    layers = [1, 3, 5, 7, 9, 11]
    gmacs = [1.3] * 12
    costs = exit_costs(layers, gmacs, 0.041)
    target = fraction * costs[-1]
    sol = solve_budget(values, layers, gmacs, 0.041, target, prior=prior)
    assert abs(sol.relative_error) < 0.02
    assert sol.realised_gmacs == pytest.approx(realised_average(values, sol.thresholds, costs))
    assert sol.thresholds[-1] == 1e8


def test_frame_values_compare_consecutive_exits_from_layer_zero():
    model = ExampleModel(decay=0.5)
    model.reset('task')
    image = example_frames(1)[0]
    values = frame_values(model, image, None)
    frame = model.encode(image)
    model.run_layers(frame, 0, 12)
    poses = [model.candidate(frame, layer).pose for layer in (0, 1, 3, 5, 7, 9, 11)]
    assert values == pytest.approx(consistency_values(np.array(poses)), abs=1e-6)
    assert model.commits == [11]                            # 'last': full model's state


def test_calibration_yaml_round_trip(tmp_path):
    model = ExampleModel()
    samples = ValueSamples()
    episode_values(model, 'task', example_frames(40), None, samples, warmup_frames=2, stride=2)
    assert samples.values.shape == (6, 19)
    cal = Calibration(exit_layers=list(model.exit_layers), layer_gmacs=samples.mean_layer_gmacs(),
                      head_gmacs=samples.head_gmacs, values=samples.values)
    cal.add_budgets([0.4 * cal.full_gmacs, 0.6 * cal.full_gmacs])
    path = save_calibration(cal, tmp_path / 'cal.yaml')
    back = load_calibration(path)
    assert back.values == pytest.approx(cal.values)
    assert [b.thresholds for b in back.budgets] == [b.thresholds for b in cal.budgets]
    assert back.thresholds_for(0.41 * cal.full_gmacs) == cal.budgets[0].thresholds
    assert back.full_gmacs == pytest.approx(12 * 1.3 + 0.041)
