"""Soak (slow): 10,000+ frames through deer_node; memory stays flat, queues stay bounded."""
import gc
import os
import time

import pytest

from ros_io_helpers import CameraPlayer, operator, outputs

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FRAMES = 10_000


def rss_mb() -> float:
    with open(f'/proc/{os.getpid()}/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


@pytest.mark.timeout(900)
def test_ten_thousand_frames_memory_stays_flat(ros_graph, deer):
    node = deer({'control_rate_hz': 50.0, 'budget.avg_fraction': 0.5,
                 'safety.stale_image_s': 5.0})
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    ros_graph.wait_for_subscribers(camera.static)
    baseline = None
    samples = []
    start = time.monotonic()
    while node.core.sync.received['static'] < FRAMES:
        camera.publish()
        ros_graph.spin_for(0.004)
        if camera.count % 500 == 0:
            for key in out:          # the test's own lists must not count as the node's memory
                out[key].clear()
            gc.collect()
            samples.append(rss_mb())
            if camera.count == 2000:
                baseline = samples[-1]
        assert time.monotonic() - start < 800, 'soak too slow'
    growth = samples[-1] - baseline
    assert node.core.counts['actions'] > 1000
    assert len(node.core.sync._static) <= node.settings.sync.queue_size
    assert growth < 25.0, f'RSS grew {growth:.1f} MB after warm-up: {samples}'
