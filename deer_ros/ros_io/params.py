"""ROS parameter declarations and validation generated from settings (param_schema specs).

Also the rclpy half of the unknown-name rule (deer_ros.ros_io.param_check): review_overrides()
reads a node's params files and `-p` rules, CheckedParameters answers a set request for an
unknown name or a wrong type with a reason in words.
"""
import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
from rclpy.parameter import Parameter

from deer_ros.ros_io.param_check import (OverrideReview, read_ros_args, review_overrides,
                                         type_refusal, unknown_text)
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


def node_overrides_review(node: Any, global_args: Optional[Sequence[str]] = None,
                          cli_args: Optional[Sequence[str]] = None,
                          use_global_arguments: bool = True) -> OverrideReview:
    """The unknown-name verdict on what a node was given; call after declaring every parameter.

    global_args: the command line rclpy.init parsed (None: sys.argv); cli_args and
    use_global_arguments: the node's own, as given to its constructor.
    """
    argv = list(global_args if global_args is not None else sys.argv) \
        if use_global_arguments else []
    sources = read_ros_args(argv + list(cli_args or []))
    documents = {path: _read_yaml(path) for path in sources.params_files}
    given = getattr(node, '_parameter_overrides', {})   # rclpy's merged overrides (no API)
    known = node.get_parameters_by_prefix('')
    return review_overrides(node.get_fully_qualified_name(), list(given), list(known),
                            sources, documents)


def _read_yaml(path: str) -> Any:
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return None      # rcl already parsed it; unreadable now is no reason to refuse


def refuse_unknown_overrides(node: Any, who: str) -> None:
    """For an unmanaged node: log the warnings; ValueError naming every refused override."""
    review = node_overrides_review(node)
    for warning in review.warnings:
        node.get_logger().warning(warning)
    if review.refused:
        raise ValueError(f'{who} parameters: {review.reason}')


class CheckedParameters:
    """Mixin for an rclpy Node: set requests name unknown parameters and wrong types in words.

    rclpy's own answers are "Invalid access to undeclared parameter(s): []" and
    "Wrong parameter type, expected '3' got '2'", and both come before any on-set callback, so
    the check runs here, in front of rclpy's set path (the parameter services call
    set_parameters_atomically). An empty list for a double-array parameter is retyped
    (`ros2 param set ... "[]"` sends an empty bool array).
    """

    def set_parameters(self, parameter_list: List[Parameter]) -> List[SetParametersResult]:
        """Each parameter on its own, as rclpy does; refused ones do not stop the rest."""
        return [self.set_parameters_atomically([p]) for p in parameter_list]

    def set_parameters_atomically(self, parameter_list: List[Parameter]
                                  ) -> SetParametersResult:
        """Refuse unknown names and wrong types in words, then rclpy's checks and callbacks."""
        parameter_list = [self._retyped(p) for p in parameter_list]
        reasons = [r for r in map(self._refusal, parameter_list) if r]
        if reasons:
            reason = '; '.join(reasons)
            self.get_logger().warning(f'parameter change rejected: {reason}')
            return SetParametersResult(successful=False, reason=reason)
        return super().set_parameters_atomically(parameter_list)

    def _refusal(self, param: Parameter) -> Optional[str]:
        if not self.has_parameter(param.name):
            return unknown_text(self.get_name(), param.name,
                                list(self.get_parameters_by_prefix('')))
        descriptor = self.describe_parameter(param.name)
        if descriptor.dynamic_typing:
            return None
        return type_refusal(param.name, Parameter.Type(descriptor.type).name.lower(),
                            param.type_.name.lower())

    def _retyped(self, param: Parameter) -> Parameter:
        if (param.type_.name.endswith('_ARRAY') and len(param.value) == 0
                and self.has_parameter(param.name) and self.describe_parameter(
                    param.name).type == ParameterType.PARAMETER_DOUBLE_ARRAY):
            return Parameter(param.name, Parameter.Type.DOUBLE_ARRAY, [])
        return param
