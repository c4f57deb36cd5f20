"""Telemetry sources the budget controllers read: a clock, GPU memory, running statistics.

Each source is a small Protocol so that tests inject latency and memory traces.
"""
from deer_ros.telemetry.sources import (Clock, MemorySample, MemorySource, NullMemorySource,
                                        NvmlMemorySource, RecordingMemorySource, Telemetry,
                                        TraceMemorySource, default_memory_source)
from deer_ros.telemetry.stats import RunningPercentile, RunningWindow

__all__ = ['Clock', 'MemorySample', 'MemorySource', 'NullMemorySource', 'NvmlMemorySource',
           'RecordingMemorySource', 'RunningPercentile', 'RunningWindow', 'Telemetry',
           'TraceMemorySource',
           'default_memory_source']
