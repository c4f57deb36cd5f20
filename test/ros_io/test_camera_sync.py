"""camera_sync: latest-frame-only, pairing within slop, bounded queues, dropped counting."""
import numpy as np

from deer_ros.ros_io.camera_sync import CameraSync, Frame

IMG = np.zeros((2, 2, 3), np.uint8)


def frame(stamp, received=None):
    return Frame(IMG, stamp, stamp if received is None else received)


def test_single_camera_takes_newest_once_and_counts_superseded():
    sync = CameraSync(use_gripper=False)
    for t in (1.0, 1.1, 1.2):
        sync.add('static', frame(t))
    obs = sync.take()
    assert obs.static.stamp_s == 1.2 and obs.gripper is None
    assert sync.dropped == 2
    assert sync.take() is None          # never the same observation twice
    sync.add('static', frame(1.3))
    assert sync.take().static.stamp_s == 1.3
    assert sync.dropped == 2


def test_two_cameras_pair_within_slop_only():
    sync = CameraSync(use_gripper=True, slop_s=0.02)
    sync.add('static', frame(1.00))
    assert sync.take() is None           # no gripper frame yet
    sync.add('gripper', frame(1.05))
    assert sync.take() is None           # 50 ms apart > slop
    sync.add('gripper', frame(1.01))
    obs = sync.take()
    assert obs.static.stamp_s == 1.00 and obs.gripper.stamp_s == 1.01


def test_pairing_falls_back_to_an_older_static_frame():
    sync = CameraSync(use_gripper=True, slop_s=0.01)
    sync.add('static', frame(1.00))
    sync.add('static', frame(1.10))
    sync.add('gripper', frame(1.005))
    assert sync.take().static.stamp_s == 1.00


def test_queues_are_bounded_and_evictions_count_as_dropped():
    sync = CameraSync(use_gripper=False, queue_size=3)
    for i in range(100):
        sync.add('static', frame(float(i)))
    assert len(sync._static) == 3
    sync.take()
    assert sync.dropped == 99


def test_clock_jump_back_restarts_pairing():
    sync = CameraSync(use_gripper=False)
    sync.add('static', frame(100.0))
    assert sync.take() is not None
    sync.add('static', frame(3.0))        # simulation reset: stamps restart
    assert sync.take().static.stamp_s == 3.0
    assert sync.clock_jumps == 1


def test_latest_received_is_the_older_camera():
    sync = CameraSync(use_gripper=True)
    assert sync.latest_received_s() is None
    sync.add('static', frame(1.0, received=10.0))
    assert sync.latest_received_s() is None
    sync.add('gripper', frame(1.0, received=9.0))
    assert sync.latest_received_s() == 9.0


def test_a_frame_seen_before_clear_is_fresh_again_after_it():
    """activate() clears the sync; a pair first received before that (the same stamp re-sent, or
    a camera that had already sent it) must count as fresh afterwards. Before the fix clear()
    kept the newest stamps but dropped their receipt times, so latest_received_s stayed None and
    the node idled forever on 'no frames' (bench node: no answer to frame 0 under load)."""
    sync = CameraSync(use_gripper=True)
    for cam in ('static', 'gripper'):
        sync.add(cam, frame(1.0, received=5.0))
    sync.clear()
    assert sync.latest_received_s() is None and sync.missing() == ['static', 'gripper']
    for cam in ('static', 'gripper'):
        sync.add(cam, frame(1.0, received=6.0))
    assert sync.latest_received_s() == 6.0 and not sync.missing()
    obs = sync.take()
    assert obs is not None and obs.static.stamp_s == 1.0


def test_an_observation_taken_before_clear_is_not_taken_again():
    sync = CameraSync(use_gripper=False)
    sync.add('static', frame(1.0))
    assert sync.take() is not None
    sync.clear()
    sync.add('static', frame(1.0, received=9.0))    # the same frame again after activate
    assert sync.take() is None


def test_unchecked_frames_count_as_fresh_only_once_confirmed():
    sync = CameraSync(use_gripper=True)
    sync.add('static', frame(1.0))
    sync.add('gripper', frame(1.0), checked=False)    # compressed: known good once decoded
    assert sync.latest_received_s() is None and sync.stale(1.0, 0.5) == ['gripper']
    obs = sync.take()
    sync.confirm('gripper', obs.gripper)
    assert sync.latest_received_s() == 1.0 and sync.stale(1.2, 0.5) == []
    sync.add('static', frame(2.0))
    sync.add('gripper', frame(2.0), checked=False)    # never decoded: not fresh
    assert sync.stale(2.0, 0.5) == ['gripper'] and sync.frozen(2.0, 0.5) == []


def test_pairs_received_count_static_frames_that_met_a_gripper_frame():
    sync = CameraSync(use_gripper=True, slop_s=0.005)
    for t in (1.00, 1.02, 1.04):
        sync.add('static', frame(t))
    sync.add('gripper', frame(1.02))          # after its static frame
    sync.add('gripper', frame(1.06))          # no partner (yet)
    sync.add('static', frame(1.06))           # ... now
    sync.add('gripper', frame(1.06))          # a repeat: not a second pair
    assert sync.pairs == 2 and sync.status().pairs == 2
