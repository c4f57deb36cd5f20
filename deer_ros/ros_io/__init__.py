"""ROS 2 I/O for deer_node: the thin node (deer_node.py) and the pure pieces it wires.

Pure modules (no rclpy import, tested without a graph): settings (with param_schema and
param_docs), image_codec, camera_sync, safety, action_mapping, diagnostics, control_core
(with core_types), node_status.
ROS-facing modules: params, messages, deer_node.
"""
