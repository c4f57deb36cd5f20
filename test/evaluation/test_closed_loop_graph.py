"""A short closed-loop episode over real rclpy: sim_node + deer_node subprocesses (tiny preset)."""
import pytest

from deer_ros.evaluation.graph import ClosedLoopGraph, stamp_ns
from deer_ros.evaluation.graph_params import GraphConfig

pytestmark = pytest.mark.ros


def test_sim_node_and_deer_node_close_the_loop_until_done(tmp_path):
    # sim_node republishes the unchanged state every 10 ms and deer_node ticks at 100 Hz, so
    # deer_node answers republished frames of a state the sim has already stepped past; the sim
    # drops those answers as stale. Only the applied ones are actions.
    cfg = GraphConfig(tasks=('reach-v3',), episodes_per_task=1, max_steps=5, image_size=64,
                      engine={'policy': 'fixed', 'fixed_exit': 1}, control_rate_hz=100.0,
                      idle_publish_rate_hz=100.0)
    graph = ClosedLoopGraph(cfg, tmp_path, capture_episode=0)
    episodes = graph.run()
    assert len(episodes) == 1
    ep = episodes[0]
    assert ep.done and ep.task == 'reach-v3' and ep.steps == 5
    assert sorted(ep.applied) == [1, 2, 3, 4, 5], 'episode_status names each applied action'
    assert len(ep.telemetry) == 5, f'one telemetry per applied action ({ep.answers} answers)'
    assert [stamp_ns(m.header.stamp) for m in ep.telemetry] == \
        [ep.applied[k] for k in sorted(ep.applied)], 'joined by the applied stamp, bit for bit'
    assert all(m.exit_index == 1 and m.layers_executed == 4 for m in ep.telemetry)
    assert ep.frames and ep.frames[0].shape == (64, 64, 3)
    assert graph.exit_codes == {'sim_node': 0, 'deer_node': 0}, graph.log_tail('deer_node')


@pytest.mark.slow
def test_demo_command_runs_end_to_end(tmp_path, capsys):
    from deer_ros.cli import main
    code = main(['demo', '--tasks', 'reach-v3', '--episodes-per-task', '1', '--max-steps', '6',
                 '-o', str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'episode 0 reach-v3' in out and 'x less' in out
    assert (tmp_path / 'episode0_strip.png').is_file() and (tmp_path / 'episode0.gif').is_file()
