"""Telemetry sources: a monotonic clock and GPU memory samples (NVML + torch allocator).

`NvmlMemorySource` imports pynvml (nvidia-ml-py) and torch lazily; on a machine without NVML it
reports `active=False` with the reason instead of failing, and the memory controller idles.
"""
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Protocol, Sequence

Clock = Callable[[], float]     # seconds, monotonic (time.monotonic by default)

_MB = 1024.0 * 1024.0


@dataclass(frozen=True)
class MemorySample:
    """One GPU memory reading, MB (2^20 bytes)."""

    active: bool                        # False: no GPU telemetry on this machine
    process_mb: float = 0.0             # memory our process holds (torch reserved, else NVML used)
    device_used_mb: float = 0.0         # NVML: used on the whole device (all processes)
    device_free_mb: float = 0.0         # NVML: free on the device
    device_total_mb: float = 0.0        # NVML: total
    allocated_mb: float = 0.0           # torch: live tensors
    reason: str = ''                    # why inactive, or where the numbers came from


class MemorySource(Protocol):
    """Anything that reads GPU memory."""

    def sample(self) -> MemorySample:
        """Read memory now."""


class NullMemorySource:
    """No GPU telemetry: every sample is inactive."""

    def __init__(self, reason: str = 'no GPU memory telemetry') -> None:
        self.reason = reason

    def sample(self) -> MemorySample:
        """An inactive sample carrying the reason."""
        return MemorySample(active=False, reason=self.reason)


class NvmlMemorySource:
    """Device memory from NVML, process memory from torch.cuda's allocator when available."""

    def __init__(self, device_index: int = 0) -> None:
        self.device_index = device_index
        self._handle = None
        self._nvml = None
        self.reason = ''
        try:
            import pynvml
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
            self._nvml = pynvml
        except Exception as exc:   # ImportError, NVMLError (no driver / library), bad index
            self.reason = f'NVML unavailable: {exc}'

    @property
    def active(self) -> bool:
        """True when NVML answered at start-up."""
        return self._handle is not None

    def sample(self) -> MemorySample:
        """Read NVML and (if CUDA is initialised) torch's allocator statistics."""
        if not self.active:
            return MemorySample(active=False, reason=self.reason)
        try:
            info = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
        except Exception as exc:
            return MemorySample(active=False, reason=f'NVML query failed: {exc}')
        reserved, allocated, origin = _torch_memory(self.device_index)
        used = info.used / _MB
        return MemorySample(active=True, process_mb=used if reserved is None else reserved,
                            device_used_mb=used, device_free_mb=info.free / _MB,
                            device_total_mb=info.total / _MB, allocated_mb=allocated or 0.0,
                            reason=origin)


def _torch_memory(device_index: int):
    import sys
    torch = sys.modules.get('torch')     # never import torch just to read telemetry
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None, None, 'process=NVML device used'
    return (torch.cuda.memory_reserved(device_index) / _MB,
            torch.cuda.memory_allocated(device_index) / _MB, 'process=torch reserved')


class TraceMemorySource:
    """Replays a list of samples (tests); the last one repeats."""

    def __init__(self, samples: Sequence[MemorySample]) -> None:
        self._samples = list(samples)
        self._i = 0

    def sample(self) -> MemorySample:
        """Next sample of the trace."""
        s = self._samples[min(self._i, len(self._samples) - 1)]
        self._i += 1
        return s


class RecordingMemorySource:
    """Passes another source's samples through and keeps them: a trace to replay later."""

    def __init__(self, inner: MemorySource) -> None:
        self.inner = inner
        self.samples: List[MemorySample] = []

    def sample(self) -> MemorySample:
        """The inner source's sample, recorded."""
        s = self.inner.sample()
        self.samples.append(s)
        return s


def default_memory_source(device_index: int = 0) -> MemorySource:
    """NVML when it answers, else an inactive source with the reason."""
    source = NvmlMemorySource(device_index)
    return source if source.active else NullMemorySource(source.reason)


@dataclass
class Telemetry:
    """The sources an InferenceEngine reads; tests replace them with traces."""

    clock: Clock = time.monotonic
    memory: Optional[MemorySource] = None     # None: default_memory_source() when needed
