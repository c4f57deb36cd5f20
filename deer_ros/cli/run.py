"""Run one instruction on a running deer_node through its ~/run action, and wait for the result.

An example client of deer_ros/action/RunInstruction (README, "The ~/run action"): sends the goal,
prints the feedback (steps, exit, realised compute fraction, latency, last hold) at most once
per --print-every seconds, and the result. Ctrl-C cancels the goal (deer_node holds at once) and
waits for its result. Exit code 0 when the goal succeeded, 1 otherwise, 2 when no server
answered or the goal was rejected (node not active, or its hold input engaged).

Example:
  deer-ros run "open the drawer" --time-limit 30
  deer-ros run "open the drawer" --node /arm1/deer_node --budget-fraction 0.5

The same from the ros2 CLI (one line):
  ros2 action send_goal --feedback /deer_node/run deer_ros/action/RunInstruction
    "{instruction: 'open the drawer', time_limit_s: 30.0}"
"""
import argparse
import sys
import time

COMMAND = 'run'
HELP = "run an instruction through deer_node's ~/run action (goal, feedback, Ctrl-C cancels)"
STATUS_NAMES = {4: 'SUCCEEDED', 5: 'CANCELED', 6: 'ABORTED'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros run`."""
    parser.add_argument('instruction', help='the language instruction, e.g. "open the drawer"')
    parser.add_argument('--node', default='/deer_node',
                        help='fully qualified name of the deer_node (default %(default)s); the '
                             'action is NODE/run')
    parser.add_argument('--time-limit', type=float, default=0.0, metavar='S',
                        help="end the goal after S seconds (default 0: the node's "
                             'run.time_limit_s; both 0: no limit)')
    parser.add_argument('--budget-fraction', type=float, default=0.0, metavar='F',
                        help='budget.avg_fraction for this goal only, in (0, 1] (default 0: '
                             "the node's setting)")
    parser.add_argument('--server-timeout', type=float, default=10.0, metavar='S',
                        help='wait this long for the action server (default %(default)s)')
    parser.add_argument('--print-every', type=float, default=1.0, metavar='S',
                        help='print feedback at most every S seconds (default %(default)s)')


def run(args: argparse.Namespace) -> int:
    """Send the goal, print feedback and the result; Ctrl-C cancels."""
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from deer_ros.action import RunInstruction

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)   # Ctrl-C: cancel, not exit
    node = rclpy.create_node('deer_ros_run_client')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    action = f'{args.node.rstrip("/")}/run'
    client = ActionClient(node, RunInstruction, action)
    printed = [0.0]

    def on_feedback(msg: object) -> None:
        fb = msg.feedback
        if time.monotonic() - printed[0] >= args.print_every:
            printed[0] = time.monotonic()
            print(f'{fb.elapsed_s:7.1f} s  steps {fb.steps:5d}  exit {fb.exit_index}  '
                  f'compute {100 * fb.fraction:5.1f} %  latency {fb.latency_ms:6.1f} ms'
                  + (f'  last hold: {fb.hold_reason}' if fb.hold_reason else ''), flush=True)

    def wait(future: object) -> object:
        while not future.done():
            executor.spin_once(timeout_sec=0.05)
        return future.result()

    try:
        if not client.wait_for_server(timeout_sec=args.server_timeout):
            print(f'no action server {action} within {args.server_timeout:g} s (is deer_node '
                  'running and active?)', file=sys.stderr)
            return 2
        goal = RunInstruction.Goal(instruction=args.instruction,
                                   time_limit_s=args.time_limit,
                                   budget_fraction=args.budget_fraction)
        handle = wait(client.send_goal_async(goal, feedback_callback=on_feedback))
        if not handle.accepted:
            print('goal rejected (see the node log: not active, or its hold input engaged)',
                  file=sys.stderr)
            return 2
        print(f'goal accepted by {action}: {args.instruction!r} (Ctrl-C cancels)', flush=True)
        result_future = handle.get_result_async()
        try:
            response = wait(result_future)
        except KeyboardInterrupt:
            print('cancelling...', flush=True)
            wait(handle.cancel_goal_async())
            response = wait(result_future)
        result = response.result
        print(f'{STATUS_NAMES.get(response.status, response.status)}: {result.outcome} '
              f'({result.message}); {result.steps} steps in {result.duration_s:.1f} s, mean '
              f'compute {100 * result.mean_fraction:.1f} % of the full model '
              f'({result.mean_gflops:.2f} GMAC)')
        return 0 if response.status == 4 else 1
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
