"""Benchmark 3a: the node's per-frame stages timed one by one, without a ROS graph.

For one observation of two cameras: decode both sensor_msgs/Image messages, pair them
(CameraSync), resize + normalise (the model's preprocessing, counted as model time by the
engine), the engine's own overhead (step latency minus its vision/LLM/head time), action
mapping and building the published messages.
"""
import time
from typing import Any, Callable, Dict, List

import numpy as np

from deer_ros.bench.timing import summarize


def image_message(image: np.ndarray, stamp_s: float) -> Any:
    """An rgb8 sensor_msgs/Image of an (H, W, 3) uint8 array."""
    from sensor_msgs.msg import Image

    from deer_ros.ros_io.messages import stamp_from_seconds
    height, width, _ = image.shape
    msg = Image(height=height, width=width, encoding='rgb8', is_bigendian=0, step=width * 3,
                data=image.tobytes())
    msg.header.stamp = stamp_from_seconds(stamp_s)
    msg.header.frame_id = 'camera'
    return msg


def _timed(fn: Callable[[], Any], repeats: int) -> List[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def run_stages(loaded: Any, images: List[np.ndarray], repeats: int) -> Dict[str, Any]:
    """Time each stage `repeats` times; loaded = model_loader.LoadedModel (engine + model)."""
    from deer_ros.model.vision import preprocess
    from deer_ros.ros_io import messages
    from deer_ros.ros_io.action_mapping import map_action
    from deer_ros.ros_io.camera_sync import CameraSync, Frame
    from deer_ros.ros_io.image_codec import ImageDecoder
    from deer_ros.ros_io.settings import NodeSettings
    settings = NodeSettings()
    decoder = ImageDecoder()
    msgs = [image_message(img, 1.0) for img in images]
    sync = CameraSync(use_gripper=True)
    counter = iter(range(1, 10 ** 9))

    def pair() -> None:
        stamp = float(next(counter))
        sync.add('static', Frame(images[0], stamp, time.monotonic()))
        sync.add('gripper', Frame(images[1], stamp, time.monotonic()))
        sync.take()

    engine, model = loaded.engine, loaded.model
    engine.reset('push the red block to the left')
    records: List[Any] = []
    policy = []
    for _ in range(repeats):
        record = engine.step(images[0], images[1])
        records.append(record)
        policy.append(record.latency_ms - record.vision_ms - record.llm_ms - record.head_ms)
    record = records[-1]
    command = map_action(record.action, settings)
    stamp = messages.stamp_from_seconds(1.0)

    def build() -> None:
        messages.action_command(command, stamp, 'world', record)
        messages.twist(command, settings, stamp)
        messages.telemetry(record, stamp, settings, len(model.exit_layers),
                           int(model.num_layers), 0)

    stages = {
        'decode (2 images)': _timed(lambda: [decoder.decode(m) for m in msgs], repeats),
        'sync (pair + take)': _timed(pair, repeats),
        'policy (engine overhead)': policy,
        'action mapping': _timed(lambda: map_action(record.action, settings), repeats),
        'message building': _timed(build, repeats),
    }
    resize = _timed(lambda: [preprocess(img, model.config.vision, model.device)
                             for img in images], repeats)
    out = {name: summarize(v).to_dict() for name, v in stages.items()}
    total = sum(s['median_ms'] for s in out.values())
    return dict(stages=out, overhead_median_sum_ms=total, decoder=decoder.backend,
                resize_model_time=summarize(resize).to_dict(),
                model_ms=summarize([r.vision_ms + r.llm_ms + r.head_ms for r in records])
                .to_dict())
