"""Closed-loop evaluation (the benchmark) and the demo's ROS 2 orchestration.

In-process runs drive MetaWorldSim with the same InferenceEngine and action post-processing
(deer_ros.ros_io.action_mapping) that deer_node uses; graph runs start sim_node and deer_node as
subprocesses and observe them over ROS 2 topics.
"""
