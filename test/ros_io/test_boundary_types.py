"""The types at the core's boundaries name what crosses them (no Any, no bare-string kinds)."""
import typing

from deer_ros.policies.record import StepRecord
from deer_ros.ros_io.camera_sync import SyncStatus
from deer_ros.ros_io.core_types import CoreStatus, Engine, TickKind, TickOutput
from deer_ros.ros_io.model_loader import LoadedModel
from deer_ros.ros_io.node_status import NodeFacts


def _mentions_any(hint):
    return hint is typing.Any or any(_mentions_any(arg) for arg in typing.get_args(hint))


def test_boundary_dataclasses_have_no_any_field():
    names = {'LoadedModel': LoadedModel}
    for cls in (TickOutput, CoreStatus, SyncStatus, LoadedModel, StepRecord, NodeFacts):
        hints = typing.get_type_hints(cls, localns=names)
        assert not [name for name, hint in hints.items() if _mentions_any(hint)], cls.__name__


def test_tick_output_carries_a_step_record_and_a_closed_kind():
    hints = typing.get_type_hints(TickOutput)
    assert hints['record'] == typing.Optional[StepRecord]
    assert hints['kind'] == TickKind and set(typing.get_args(TickKind)) == {'act', 'hold', 'idle'}
    assert typing.get_type_hints(Engine.step)['return'] is StepRecord
