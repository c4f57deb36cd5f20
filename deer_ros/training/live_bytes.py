"""Peak tensor memory of a piece of code: counted on fake tensors, or measured on the CPU.

`LiveBytes` follows every storage the dispatched ops create and notices when it is freed
(a weak reference to the storage itself, as torch.multiprocessing's StorageWeakRef holds, so
views and tensors autograd saves in C++ count correctly). Under torch's FakeTensorMode nothing
is allocated, so a training step of deer-9b is counted on a laptop: the plan's activation
figure is this count, not a formula.

`cpu_peak_bytes` measures what the CPU allocator really handed out, from the profiler's
allocation events (their running total), for the check of the plan against a real step.
"""
from typing import Any, Callable, Dict, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveBytes(TorchDispatchMode):
    """Bytes of the storages created by ops inside the mode that are still alive.

    `peak` is the highest count seen right after an op (its inputs and outputs both alive);
    `mark_peak()` starts a new period and returns the previous one's peak. Storages created
    before the mode (parameters, optimiser state) are not counted: add them yourself.
    Freed storages are found by checking weak references; that is done only when the count
    could pass the peak (and every PRUNE_EVERY ops), which keeps a step of thousands of ops
    fast while the peak stays exact.
    """

    PRUNE_EVERY = 256

    def __init__(self) -> None:
        super().__init__()
        self._live: Dict[int, Tuple[int, int]] = {}     # storage id -> (weak ref, bytes)
        self._ops = 0
        self.now = 0                                    # an upper bound between prunes
        self.peak = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self._ops += 1
        if self._ops % self.PRUNE_EVERY == 0:
            self._prune()
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                if storage._cdata not in self._live:
                    self._live[storage._cdata] = (storage._weak_ref(), storage.nbytes())
                    self.now += storage.nbytes()
        if self.now > self.peak:
            self._prune()
            self.peak = max(self.peak, self.now)
        return out

    def _prune(self) -> None:
        expired, free = torch.UntypedStorage._expired, torch.UntypedStorage._free_weak_ref
        for key in [k for k, (ref, _) in self._live.items() if expired(ref)]:
            ref, nbytes = self._live.pop(key)
            free(ref)
            self.now -= nbytes

    def __exit__(self, *exc: Any) -> Any:
        """Leave the mode and drop the weak references."""
        for ref, _ in self._live.values():
            torch.UntypedStorage._free_weak_ref(ref)
        self._live.clear()
        return super().__exit__(*exc)

    def mark_peak(self) -> int:
        """The peak since the last mark; the next period starts at what is alive now."""
        self._prune()
        peak, self.peak = self.peak, self.now
        return peak


def cpu_peak_bytes(step: Callable[[], Any]) -> int:
    """Highest total of CPU tensor bytes allocated by `step()` and not yet freed.

    From the profiler's allocation events: the allocator reports a running total of the
    blocks allocated while profiling (tensors made before, e.g. parameters, are not in it).
    """
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    peak = 0
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            peak = max(peak, int(node.extra_fields.total_allocated))
        stack.extend(node.children)
    return peak
