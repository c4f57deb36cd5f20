"""Builders shared by the deer_node tests: fast example models, images, a node runner."""
import threading
import time
from collections import deque
from typing import Any, Dict, List, Optional

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from std_msgs.msg import Float64

from deer_ros.msg import ActionCommand, InferenceTelemetry
from deer_ros.policies.example import ExampleModel
from deer_ros.ros_io.deer_node import COMMAND_QOS
from deer_ros.ros_io.model_loader import engine_for
from deer_ros.ros_io.executor import JoiningExecutor
from deer_ros.ros_io.node_runtime import ExecutorThread


class BoundedExampleModel(ExampleModel):
    """ExampleModel whose call logs stay bounded (soak tests), that can emit NaN and that can
    take real time per frame (step_delay_s, sleeping as a GPU-bound inference would)."""

    def __init__(self, step_delay_s: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.calls = deque(maxlen=64)
        self.poison = False
        self.step_delay_s = step_delay_s
        self.stepping = threading.Event()     # set while a frame is being inferred

    def encode(self, static: Any, gripper: Any = None) -> Any:
        if self.step_delay_s:
            self.stepping.set()
            time.sleep(self.step_delay_s)
            self.stepping.clear()
        return super().encode(static, gripper)

    def commit(self, candidate: Any) -> None:
        self.commits = self.commits[-16:]
        super().commit(candidate)

    def candidate(self, frame: Any, layer: int) -> Any:
        cand = super().candidate(frame, layer)
        if self.poison:
            cand.pose[:] = np.nan
        return cand


def example_loader(models: Optional[List[Any]] = None, **model_kwargs: Any):
    """A loader for DeerNode(loader=...) building the real engine over a BoundedExampleModel."""
    def load(settings):
        model = BoundedExampleModel(**model_kwargs)
        if models is not None:
            models.append(model)
        return engine_for(model, settings, 'example model (tests)')
    return load


def rgb(seed: int = 0, size: int = 16) -> np.ndarray:
    """A deterministic (size, size, 3) uint8 image."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def image_msg(image: np.ndarray, stamp_s: float, padding: int = 0, encoding: str = 'rgb8'):
    """sensor_msgs/Image of an RGB array (rgb8, or bgr8 with the channels swapped)."""
    from sensor_msgs.msg import Image

    from deer_ros.ros_io.image_codec import encode_rgb8
    from deer_ros.ros_io.messages import stamp_from_seconds
    fields = encode_rgb8(image if encoding == 'rgb8' else image[..., ::-1].copy(), padding)
    msg = Image(height=fields['height'], width=fields['width'], encoding=encoding,
                is_bigendian=0, step=fields['step'], data=fields['data'])
    msg.header.stamp = stamp_from_seconds(stamp_s)
    msg.header.frame_id = 'camera'
    return msg


def overrides(values: Dict[str, Any]) -> List[Parameter]:
    """parameter_overrides for a Node from {name: value}."""
    return [Parameter(k, value=v) for k, v in values.items()]


class NodeRunner:
    """Spin a node under test on its own MultiThreadedExecutor thread (as main() does)."""

    def __init__(self, node: Any):
        self.node = node
        self.executor = JoiningExecutor(num_threads=4, context=node.context)
        self.executor.add_node(node)
        self.spinner = ExecutorThread(self.executor).start()

    def close(self) -> None:
        self.spinner.stop(timeout_s=10.0)   # spin thread, then workers: no callback after
        self.node.destroy_node()


class CameraPlayer:
    """Publishes frames on the camera topics with increasing stamps."""

    def __init__(self, graph: Any, namespace: str = '', gripper: bool = False,
                 static_topic: str = 'camera/static/image_raw'):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        self.node = graph.node('camera_player', namespace=namespace)
        self.static = self.node.create_publisher(Image, static_topic, qos_profile_sensor_data)
        self.gripper = self.node.create_publisher(Image, 'camera/gripper/image_raw',
                                                  qos_profile_sensor_data) if gripper else None
        self.count = 0

    def publish(self, image: Optional[np.ndarray] = None, msg: Any = None) -> None:
        stamp = time.time()
        self.count += 1
        self.static.publish(msg or image_msg(image if image is not None else rgb(self.count),
                                             stamp))
        if self.gripper is not None:
            self.gripper.publish(image_msg(rgb(self.count + 1000), stamp))


def operator(graph: Any, text: str, namespace: str = '') -> Any:
    """Publish an instruction (RELIABLE + TRANSIENT_LOCAL, as the node expects)."""
    from std_msgs.msg import String

    from deer_ros.ros_io.deer_node import INSTRUCTION_QOS
    node = graph.node(f'operator_{len(graph.nodes)}', namespace=namespace)
    pub = node.create_publisher(String, 'instruction', INSTRUCTION_QOS)
    pub.publish(String(data=text))
    return pub


def wait_for_diagnostic(graph: Any, out: Dict[str, Any], category: str, text: str,
                        timeout_s: float = 5.0) -> Any:
    """The latest deer_node `category` status whose message contains text (spins for it)."""
    def found() -> List[Any]:
        return [s for s in diagnostics_of(out['diagnostics'], f'deer_node: {category}')
                if text in s.message]
    graph.spin_until(found, timeout_s, f'{category} diagnostic containing {text!r}')
    return found()[-1]


def scene(graph: Any, deer: Any, params: Dict[str, Any], **model_kwargs: Any) -> Any:
    """A started deer_node, its outputs, a matched camera and an instruction: (out, camera)."""
    deer(params, **model_kwargs)
    out = outputs(graph)
    camera = CameraPlayer(graph)
    operator(graph, 'open the drawer')
    graph.wait_for_subscribers(camera.static)
    return out, camera


def diagnostics_of(arrays: List[Any], name_part: str) -> List[Any]:
    """Every DiagnosticStatus whose name contains name_part."""
    return [s for a in arrays for s in a.status if name_part in s.name]


def outputs(graph):
    return dict(action=graph.collect(ActionCommand, 'action', COMMAND_QOS),
                twist=graph.collect(TwistStamped, 'action/twist', COMMAND_QOS),
                gripper=graph.collect(Float64, 'action/gripper', COMMAND_QOS),
                telemetry=graph.collect(InferenceTelemetry, 'telemetry', 10),
                diagnostics=graph.collect(DiagnosticArray, '/diagnostics', 10))


def stream(graph, camera, seconds, rate_hz=20.0, until=None):
    """Publish frames at rate_hz for `seconds` (or until until() holds), spinning the graph."""
    period = 1.0 / rate_hz
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until()):
        camera.publish()
        graph.spin_for(period)


def set_params(graph, values):
    client_node = graph.node(f'param_client_{len(graph.nodes)}')
    client = client_node.create_client(SetParameters, '/deer_node/set_parameters')
    graph.spin_until(client.service_is_ready, 10.0, 'set_parameters service')
    request = SetParameters.Request(parameters=[
        ParameterMsg(name=k, value=Parameter(k, value=v).get_parameter_value())
        for k, v in values.items()])
    future = client.call_async(request)
    graph.spin_until(future.done, 10.0, 'set_parameters response')
    return future.result().results
