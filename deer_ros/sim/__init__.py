"""MetaWorld simulation: a pure wrapper (no rclpy) and the sim_node that serves it over ROS 2."""
