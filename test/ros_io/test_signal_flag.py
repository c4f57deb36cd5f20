"""SignalFlag: SIGINT / SIGTERM must stop deer_node wherever in its wait loop they land.

CI once saw deer_node never exit after SIGINT/SIGTERM (test_node_shutdown). The old handler
called threading.Event.set(); a Python handler runs in the main thread between two bytecodes,
and where that thread was inside Event.wait() holding the Event's lock, set() waited on that
lock forever. The probe below calls the handler before *every* line run inside the wait, as a
signal landing there would: with the Event-based handler it deadlocks at the first line run
under the lock (checked by hand: the test fails on the old code); SignalFlag takes no lock.
"""
import os
import signal
import sys
import threading

from deer_ros.ros_io.node_runtime import SignalFlag


def handler_at_every_line(wait, on_signal, timeout_s=10.0):
    """Run wait() with on_signal called before each line executed inside it; True if it ended."""
    returned = []

    def run():
        def tracer(frame, event, _arg):
            if event == 'line':
                on_signal(signal.SIGINT, frame)   # a signal landing right before this line
            return tracer
        sys.settrace(tracer)
        try:
            returned.append(wait())
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=run, daemon=True)   # daemon: a deadlock must not hang pytest
    thread.start()
    thread.join(timeout_s)
    return not thread.is_alive(), returned


def test_a_signal_landing_anywhere_in_the_wait_never_blocks():
    flag = SignalFlag()
    ended, returned = handler_at_every_line(lambda: flag.wait(5.0), flag.on_signal)
    assert ended, 'the signal handler blocked inside the wait (deadlock)'
    assert returned == [True] and flag.signum == signal.SIGINT


def test_a_signal_landing_while_the_main_loop_polls_is_seen_within_one_slice():
    flag = SignalFlag()

    def loop():
        polls = 0
        while not flag.wait(0.01):
            polls += 1
        return polls

    ended, returned = handler_at_every_line(loop, flag.on_signal)
    assert ended and returned == [0]


def test_real_sigterm_and_sigint_set_the_flag_and_restore_puts_the_handlers_back():
    before = {s: signal.getsignal(s) for s in SignalFlag.SIGNALS}
    for signum in SignalFlag.SIGNALS:
        flag = SignalFlag().install()
        try:
            assert not flag.wait(0.0)
            os.kill(os.getpid(), signum)
            assert flag.wait(1.0) and flag.signum == signum
        finally:
            flag.restore()
        assert {s: signal.getsignal(s) for s in SignalFlag.SIGNALS} == before


def test_release_ignores_further_signals_after_one_and_restores_without():
    """End of main(): a second Ctrl-C must not kill the exiting process (test_signal_twice)."""
    before = {s: signal.getsignal(s) for s in SignalFlag.SIGNALS}
    try:
        flag = SignalFlag().install()
        flag.release()                                   # no signal: the old handlers return
        assert {s: signal.getsignal(s) for s in SignalFlag.SIGNALS} == before
        flag = SignalFlag().install()
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.wait(1.0)
        flag.release()
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in SignalFlag.SIGNALS)
        os.kill(os.getpid(), signal.SIGINT)              # ignored: no KeyboardInterrupt
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
