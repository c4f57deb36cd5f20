"""The executor deer_node spins on: rclpy's MultiThreadedExecutor with two Kilted defects fixed.

**Each callback is submitted once.** rclpy 9 (Kilted) keeps yielding a task from
wait_for_ready_callbacks, without waiting, until a worker thread has *started* it. The spin
thread then re-submits the same task in a tight loop that holds the GIL; the worker pool's queue
fills with no-op copies and every later callback queues behind them. On an idle 2-core machine
this delayed deer_node's image callbacks by up to 1.2 s (p90 200-500 ms; 74 003 of 74 971
submissions in one demo episode were copies), while any load on the other core hid it
(rclpy issue 1452, fixed upstream in rclpy 10.0.4). Here a task that is queued is not submitted
again: the spin thread waits, one slice at most, for a worker to pick it up.

A coroutine task that awaits a future is resumed by being yielded again; if that happens in the
moment between its step returning and its worker letting go of it, the spin thread skips it, so
the worker wakes the executor afterwards (without that, spin() could leave it waiting forever).

**Shutdown joins the workers first, within the timeout.** MultiThreadedExecutor.shutdown()
destroys its guard condition *before* joining its worker threads; a callback finishing meanwhile
triggers the destroyed guard and its task dies with "cannot use Destroyable because destruction
was requested" (printed later as "exception was never retrieved"). A worker still running at the
timeout makes shutdown() return False without destroying anything, so the caller can leave
(deer_node exits 3 after its hold) instead of waiting on a hung callback forever.
"""
import threading
import time
from typing import Any, Callable, Optional, Set, Union

from rclpy.executors import ConditionReachedException, ExternalShutdownException, \
    MultiThreadedExecutor, ShutdownException, TimeoutException, TimeoutObject

START_POLL_S = 0.001   # picked up but not yet marked executing: a window of microseconds
MAX_WAIT_S = 0.1       # a queued task's wait, also under spin() (no timeout): stop stays prompt


class JoiningExecutor(MultiThreadedExecutor):
    """MultiThreadedExecutor that submits each task once and joins its workers at shutdown."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._submitted_lock = threading.Condition()
        self._queued: Set[Any] = set()      # submitted, no worker has picked them up yet
        self._submitted: Set[Any] = set()   # submitted and not finished
        self._missed: Set[Any] = set()      # yielded while still held by its worker
        self.submissions = 0                # tasks handed to the worker pool (tests, benches)

    def _spin_once_impl(self, timeout_sec: Optional[Union[float, TimeoutObject]] = None,
                        wait_condition: Callable[[], bool] = lambda: False) -> None:
        try:
            task, _entity, _node = self.wait_for_ready_callbacks(
                timeout_sec, None, wait_condition)
        except (ExternalShutdownException, ShutdownException, TimeoutException,
                ConditionReachedException):
            return
        wait_s = timeout_sec.timeout if isinstance(timeout_sec, TimeoutObject) else timeout_sec
        wait_s = MAX_WAIT_S if wait_s is None or wait_s < 0 else min(wait_s, MAX_WAIT_S)
        with self._submitted_lock:
            if task in self._queued:        # yielded again before a worker took it
                self._submitted_lock.wait_for(lambda: task not in self._queued, timeout=wait_s)
                return
            if task in self._submitted:     # held by its worker: never a second copy
                self._missed.add(task)          # ... but its worker wakes us when done
                self._submitted_lock.wait(START_POLL_S)
                return
            self._queued.add(task)
            self._submitted.add(task)
            self.submissions += 1
        try:
            self._executor.submit(self._run, task)
        except BaseException:               # pool already shut down: forget the task
            with self._submitted_lock:
                self._queued.discard(task)
                self._submitted.discard(task)
            raise
        self._futures.append(task)
        for future in self._futures[:]:
            if future.done():
                self._futures.remove(future)
                future.result()  # raise a callback's exception, as rclpy does

    def _run(self, task: Any) -> None:
        with self._submitted_lock:
            self._queued.discard(task)
            self._submitted_lock.notify_all()
        try:
            task()
        finally:
            with self._submitted_lock:
                self._submitted.discard(task)
                missed = task in self._missed
                self._missed.discard(task)
            if missed and not task.done():  # a resume was yielded meanwhile: yield it again
                self.wake()

    def wait_for_tasks(self, timeout_s: float) -> bool:
        """Wait (spinning on) until every create_task() task has run; False at the timeout.

        Before stopping: an action result that is due (a ~/run goal ended by the shutdown) goes
        out through such tasks (rclpy runs a future's done callbacks as tasks), which a stopped
        spin thread would never start.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            with self._tasks_lock:
                pending = [t for t, entity, _ in self._tasks if entity is None and not t.done()]
            if not pending:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(START_POLL_S * 10)

    def shutdown(self, timeout_sec: Optional[float] = None, *,
                 wait_for_threads: bool = True) -> bool:
        """Join the workers (queued callbacks run), then shut down as rclpy does.

        False, with nothing destroyed, when a worker is still running after timeout_sec.
        """
        pool = getattr(self, '_executor', None)   # rclpy's ThreadPoolExecutor (private)
        if pool is not None and wait_for_threads:
            pool.shutdown(wait=False)
            deadline = (None if timeout_sec is None or timeout_sec < 0
                        else time.monotonic() + timeout_sec)
            threads = list(getattr(pool, '_threads', ()))
            for thread in threads:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if any(thread.is_alive() for thread in threads):
                return False
        return super().shutdown(timeout_sec, wait_for_threads=wait_for_threads)
