"""The real executable: `python -m deer_ros.ros_io.deer_node --ros-args --params-file ...`.

Tiny preset with random weights on the CPU, a camera and an operator in this process; SIGINT
must end it with a final hold and exit code 0.
"""
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray

from deer_ros.msg import ActionCommand, InferenceTelemetry
from deer_ros.ros_io.deer_node import COMMAND_QOS
from ros_io_helpers import CameraPlayer, diagnostics_of, operator, rgb

pytestmark = pytest.mark.ros
ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_executable_with_params_file_acts_and_holds_on_sigint(ros_graph, tmp_path):
    params = tmp_path / 'robot.yaml'
    params.write_text('/**/deer_node:\n  ros__parameters:\n    autostart: true\n'
                      '    control_rate_hz: 2.0\n    model:\n      device: "cpu"\n'
                      '    safety:\n      stale_image_s: 30.0\n')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'deer_ros.ros_io.deer_node', '--ros-args',
         '--params-file', str(ROOT / 'config' / 'deer.yaml'), '--params-file', str(params),
         '-r', 'camera/static/image_raw:=/cam/image', '-r', '__ns:=/arm'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        actions = ros_graph.collect(ActionCommand, '/arm/action', COMMAND_QOS)
        telemetry = ros_graph.collect(InferenceTelemetry, '/arm/telemetry', 10)
        diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics', 10)
        camera = CameraPlayer(ros_graph, static_topic='/cam/image')
        operator(ros_graph, 'open the drawer', namespace='/arm')
        deadline = time.monotonic() + 150.0
        while len(actions) < 2 and time.monotonic() < deadline and proc.poll() is None:
            camera.publish(rgb(camera.count, size=64))
            ros_graph.spin_for(0.1)
        assert proc.poll() is None, proc.stdout.read()
        assert len(actions) >= 2, 'no actions from the tiny preset within 150 s'
        assert telemetry and telemetry[-1].num_exits > 0 and telemetry[-1].total_layers > 0
        ros_graph.spin_until(lambda: any('RANDOM weights' in s.message for s in
                                         diagnostics_of(diagnostics, 'deer_node: model')),
                             5.0, 'a WARN diagnostic about random weights')
        count = len(actions)
        proc.send_signal(signal.SIGINT)
        ros_graph.spin_until(lambda: len(actions) > count and actions[-1].hold, 30.0,
                             'the final hold after SIGINT')
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.stdout.read()
    assert 'final hold' in output and 'configured in' in output, output
