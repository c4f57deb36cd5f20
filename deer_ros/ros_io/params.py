"""ROS parameter declarations and validation generated from settings (param_schema specs)."""
from typing import Any, Dict, Iterable, List, Tuple

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
from rclpy.parameter import Parameter

from deer_ros.ros_io.param_schema import ParamSpec, check_value, coerce
from deer_ros.ros_io.settings import SPECS, NodeSettings, from_flat, validate

ROS_TYPES = {'bool': ParameterType.PARAMETER_BOOL, 'integer': ParameterType.PARAMETER_INTEGER,
             'double': ParameterType.PARAMETER_DOUBLE, 'string': ParameterType.PARAMETER_STRING,
             'double_array': ParameterType.PARAMETER_DOUBLE_ARRAY,
             'string_array': ParameterType.PARAMETER_STRING_ARRAY}


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """ParameterDescriptor with description (unit, range, live) and the range ROS enforces."""
    desc = ParameterDescriptor(name=spec.name, type=ROS_TYPES[spec.kind],
                               description=spec.summary, read_only=not spec.live)
    if spec.choices:
        desc.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    if spec.kind == 'double' and spec.min is not None and spec.max is not None:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min), to_value=float(spec.max), step=0.0)]
    if spec.kind == 'integer' and spec.min is not None and spec.max is not None:
        desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max),
                                           step=1)]
    return desc


def initial_value(spec: ParamSpec) -> Any:
    """The value to declare with (an empty double array needs an explicit type)."""
    if spec.kind == 'double_array':
        # rclpy types [] as a byte array: declare the type alone (value NOT_SET reads as []).
        return [float(v) for v in spec.default] or Parameter.Type.DOUBLE_ARRAY
    if spec.kind == 'string_array':
        return [str(v) for v in spec.default] or Parameter.Type.STRING_ARRAY
    return spec.default


def declare_all(node: Any) -> NodeSettings:
    """Declare every parameter on node (YAML / -p overrides apply) and return the settings."""
    return from_flat(declare_specs(node, SPECS.values()))


def declare_specs(node: Any, specs: Iterable[ParamSpec]) -> Dict[str, Any]:
    """Declare each spec's parameter with its descriptor (ROS enforces the range on overrides).

    Returns {name: declared value, coerced to the setting's Python type}.
    """
    values = {}
    for spec in specs:
        param = node.declare_parameter(spec.name, initial_value(spec), descriptor(spec))
        values[spec.name] = coerce(spec, param.value)
    return values


def check_changes(current: NodeSettings, params: List[Parameter]
                  ) -> Tuple[SetParametersResult, NodeSettings, Dict[str, Any]]:
    """Validate a parameter set request against the settings: (result, new settings, changes).

    Unknown names (other nodes' conventions such as use_sim_time) pass through untouched.
    """
    changes: Dict[str, Any] = {}
    for param in params:
        spec = SPECS.get(param.name)
        if spec is None:
            continue
        if param.type_ not in (ROS_TYPES[spec.kind], Parameter.Type.NOT_SET) and not (
                spec.kind == 'double_array' and param.value in ([], ())):
            return _reject(f'{param.name}: expected {spec.kind}, got {param.type_.name}'), \
                current, {}
        value = coerce(spec, param.value)
        reason = check_value(spec, value)
        if reason:
            return _reject(reason), current, {}
        changes[param.name] = value
    candidate = from_flat(changes, base=current)
    reasons = validate(candidate)
    if reasons:
        return _reject('; '.join(reasons)), current, {}
    return SetParametersResult(successful=True), candidate, changes


def _reject(reason: str) -> SetParametersResult:
    return SetParametersResult(successful=False, reason=reason)
