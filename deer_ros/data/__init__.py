"""Demonstration data: the recording format, its readers and writers (no rclpy at import)."""
