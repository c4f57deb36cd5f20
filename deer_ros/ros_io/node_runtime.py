"""Spin a node on an executor thread and shut it down in an order that cannot abort.

Why this order: rclpy's executor.shutdown() called while another thread is inside spin() races
the wait set (a callback then meets "cannot use Destroyable because destruction was requested"),
and a daemon spin thread still inside rcl when the interpreter exits aborts the process
("terminate called without an active exception"). So the spin thread spins in short slices,
is told to stop and joined first; then the executor's worker threads are joined (a running
inference finishes); only then is the node shut down and destroyed and rclpy shut down. No
callback can run after destroy, and no thread is left inside rcl at exit.

The executor is executor.JoiningExecutor (rclpy's MultiThreadedExecutor with two Kilted defects
fixed: it joins its workers before destroying, and submits each callback once).

The signal handler only sets an attribute (SignalFlag): a Python handler runs in the main thread
between two bytecodes, possibly while that thread holds a threading lock, and anything that
takes a lock there (threading.Event.set() included) can wait on its own thread forever: a node
that never exits after SIGINT.
"""
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import rclpy
from rclpy.executors import ExternalShutdownException, ShutdownException
from rclpy.signals import SignalHandlerOptions

from deer_ros.ros_io.executor import JoiningExecutor

SPIN_SLICE_S = 0.05
RESULTS_WAIT_S = 1.0      # at shutdown, for action results already due to go out
EXIT_STUCK = 3            # the executor did not stop: exit without joining a thread inside rcl


class SignalFlag:
    """SIGINT / SIGTERM recorded without taking any lock; the main thread polls it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._previous: Dict[int, Any] = {}

    def on_signal(self, signum: int, _frame: Any) -> None:
        """The handler: one attribute store (atomic under the GIL), nothing that can block."""
        self.signum = signum

    def install(self) -> 'SignalFlag':
        """Handle SIGINT and SIGTERM (main thread only); restore() puts the old handlers back."""
        self._previous = {s: signal.signal(s, self.on_signal) for s in self.SIGNALS}
        return self

    def restore(self) -> None:
        """Reinstate the handlers that install() replaced."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def release(self) -> None:
        """End of a node's main(): after a signal, ignore further ones; else restore().

        Why: a terminal Ctrl-C reaches a launched node twice (the terminal's SIGINT, then
        launch's forwarded one 0.1-0.2 s later). Once the first has stopped the node, the
        process is on its way out, and a restored handler (KeyboardInterrupt), or Python's
        finalisation, which resets a Python-level handler to SIG_DFL, turned the second into
        exit -2 after the hold and a clean shutdown. SIG_IGN survives finalisation.
        """
        if self.signum is None:
            self.restore()
            return
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        self._previous = {}

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to timeout_s unless signalled; True once a signal arrived.

        time.sleep takes no lock and resumes after a handler has run (PEP 475), so a signal is
        seen within timeout_s wherever in this loop it lands.
        """
        if self.signum is None:
            time.sleep(timeout_s)
        return self.signum is not None


class ExecutorThread:
    """Spin an executor on a (non-daemon) thread until stop(), which joins everything."""

    def __init__(self, executor: Any, name: str = 'executor'):
        self.executor = executor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name)
        self.errors: List[BaseException] = []

    def start(self) -> 'ExecutorThread':
        """Start spinning."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether the spin thread still runs (False once the context is shut down)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set() and self.executor.context.ok():
            try:
                self.executor.spin_once(timeout_sec=SPIN_SLICE_S)
            except (ExternalShutdownException, ShutdownException):
                break
            except Exception as exc:   # a callback raised: keep serving the others
                self.errors.append(exc)
                print(f'executor: callback raised {exc!r}', file=sys.stderr)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop spinning, join the spin thread, then the workers; True when all joined."""
        self._stop.set()
        if self._thread is not threading.current_thread() and self._thread.ident is not None:
            self._thread.join(timeout_s)
        joined = not self._thread.is_alive()
        workers_joined = self.executor.shutdown(timeout_sec=timeout_s)   # joins the workers
        return joined and workers_joined is not False


def run_node(factory: Callable[[], Any], args: Optional[List[str]] = None,
             num_threads: int = 4) -> int:
    """Init rclpy, build the node, spin until SIGINT/SIGTERM; final hold; exit status."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signals = SignalFlag().install()
    try:
        try:
            node = factory()
        except Exception as exc:   # e.g. a params-file value out of range: say which, exit 1
            print(f'{getattr(factory, "__name__", "node")}: cannot start: {exc}',
                  file=sys.stderr)
            return 1
        executor = JoiningExecutor(num_threads=num_threads)
        executor.add_node(node)
        spinner = ExecutorThread(executor).start()
        while not signals.wait(0.1) and spinner.alive:
            pass
        cause = (signal.Signals(signals.signum).name if signals.signum is not None
                 else 'executor stopped')
        node.get_logger().info(f'{cause}: final hold, shutting down')
        node.hold_for_shutdown()          # the hold first: a tick in flight cannot move after it
        executor.wait_for_tasks(RESULTS_WAIT_S)   # then results already due (a ~/run goal's)
        if not spinner.stop():
            # A thread still inside rcl: destroying the node now would abort the process and
            # joining it at exit would never return. The hold is out; leave at once.
            node.get_logger().error('executor did not stop within 30 s: exiting without '
                                    f'cleanup (exit {EXIT_STUCK})')
            node.wait_for_acks()          # still let the hold reach the robot (1 s at most)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_STUCK)
        try:
            node.trigger_shutdown()       # nothing else runs now: release in peace
        except Exception as exc:   # already finalized / in a transition
            node.get_logger().warning(f'shutdown transition: {exc}')
        if not node.wait_for_acks():      # the final hold must reach the robot before exit
            node.get_logger().warning('final hold not acknowledged by every subscriber in 1 s')
        node.destroy_node()
        return 0
    finally:
        rclpy.try_shutdown()
        signals.release()
