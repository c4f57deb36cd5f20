"""ros_recorder parameters: one definition (RecorderConfig) gives ranges, checks, docs."""
import pathlib

import pytest
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter

from deer_ros.data.ros_recorder import PARAM_SPECS, RecorderConfig, RosRecorder
from deer_ros.ros_io.param_docs import parameter_table

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('bad, name', [
    ({'fps': 0.0}, 'fps'), ({'max_frame_age_s': -0.1}, 'max_frame_age_s'),
    ({'max_frame_age_s': float('nan')}, 'max_frame_age_s'), ({'output': ' '}, 'output'),
    ({'translation_scale_m': 2.0}, 'translation_scale_m'),
    ({'translation_scale_m': 0.0}, 'translation_scale_m: must be > 0'),   # divided by
    ({'rotation_scale_rad': 0.0}, 'rotation_scale_rad: must be > 0')])
def test_an_unusable_config_is_refused_at_construction_naming_the_parameter(bad, name):
    with pytest.raises(ValueError, match=name):
        RecorderConfig(**bad)


def test_every_numeric_parameter_has_a_range():
    numeric = [spec for spec in PARAM_SPECS if spec.kind in ('double', 'integer')]
    assert {spec.name for spec in numeric} >= {'fps', 'max_frame_age_s', 'translation_scale_m'}
    assert all(spec.min is not None and spec.max is not None for spec in numeric)


def test_docs_recorder_table_is_generated():
    text = (ROOT / 'docs/simulation.md').read_text()
    assert parameter_table(PARAM_SPECS) in text, \
        'regenerate the table in docs/simulation.md: parameter_table(ros_recorder.PARAM_SPECS)'


@pytest.mark.ros
def test_recorder_declares_its_parameters_with_ranges(ros_graph, tmp_path):
    recorder = ros_graph.add(RosRecorder(context=ros_graph.context, parameter_overrides=[
        Parameter('output', value=str(tmp_path)), Parameter('fps', value=20.0)]))
    assert recorder.config.fps == 20.0 and recorder.config.output == str(tmp_path)
    fps = recorder.describe_parameter('fps')
    assert fps.read_only and fps.type == ParameterType.PARAMETER_DOUBLE
    assert (fps.floating_point_range[0].from_value, fps.floating_point_range[0].to_value) == \
        (0.1, 1000.0)
    assert 'Hz' in fps.description
    age = recorder.describe_parameter('max_frame_age_s')
    assert age.floating_point_range[0].to_value == 60.0
    result = recorder.set_parameters([Parameter('fps', value=5.0)])[0]
    assert not result.successful   # read-only after start


@pytest.mark.ros
def test_recorder_refuses_an_out_of_range_parameter_at_start(ros_graph):
    with pytest.raises(Exception, match='max_frame_age_s'):
        RosRecorder(context=ros_graph.context,
                    parameter_overrides=[Parameter('max_frame_age_s', value=-1.0)])
