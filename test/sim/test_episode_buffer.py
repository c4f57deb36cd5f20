"""EpisodeBuffer: pairing actions with the frames they were computed from."""
import numpy as np

from deer_ros.data.episode_buffer import EpisodeBuffer


def _img(v):
    return np.full((4, 4, 3), v, np.uint8)


def test_actions_pair_with_newest_frame_not_after_their_stamp():
    buf = EpisodeBuffer(max_frame_age_ns=100)
    buf.instruction = 'do it'
    for stamp, v in [(10, 1), (20, 2), (30, 3)]:
        buf.add_frame('static', stamp, _img(v))
        buf.add_frame('gripper', stamp, _img(v + 10))
    assert buf.add_action(20, np.ones(7))       # exactly the frame stamped 20
    assert buf.add_action(35, -np.ones(7))      # teleop: newest frame before 35
    episode = buf.finish(success=True)
    assert episode.static[:, 0, 0, 0].tolist() == [2, 3]
    assert episode.gripper[:, 0, 0, 0].tolist() == [12, 13]
    assert episode.actions[1, 0] == -1.0 and episode.success
    assert len(buf) == 0 and buf.finish(True) is None


def test_actions_without_fresh_frames_or_instruction_are_skipped_with_reason():
    buf = EpisodeBuffer(use_gripper=False, max_frame_age_ns=5)
    buf.add_frame('static', 10, _img(1))
    assert not buf.add_action(12, np.zeros(7))          # no instruction yet
    buf.instruction = 'go'
    assert not buf.add_action(100, np.zeros(7))         # frame too old
    assert not buf.add_action(5, np.zeros(7))           # no frame before the stamp
    assert buf.stats.skipped == {'no instruction yet': 1, 'no recent frame': 2}
    assert buf.add_action(12, np.zeros(7))
    assert buf.finish(False).gripper is None
