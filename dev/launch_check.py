"""By-hand check of both launch files under the real `ros2 launch` of ROS 2 Kilted.

`launch`, `launch_ros` and the `ros2` CLI have no PyPI wheels, so CI never runs a launch file.
This script builds them from their Kilted release sources (the release/kilted/<pkg>/<version>
tags of the ros2-gbp release repositories, as `fetch` mirrors them) into a throwaway venv that
sees the project's venv (rclpy and the other ROS wheels) through a .pth file; builds a full colcon
install of deer_ros (messages + Python + share, as a robot would) and composition_interfaces
(launch_ros imports it; no wheel) into a temp workspace; then runs:

1. `ros2 launch deer_ros deer.launch.py params_file:=<file with use_gripper_camera: true>`:
   the node must reach active, act on camera frames, keep the file's use_gripper_camera (the
   argument not given), and take each of 5 instructions sent with README's `ros2 topic pub`;
   again with `use_gripper_camera:=false`, which must override the file;
2. `ros2 launch deer_ros sim_demo.launch.py` (the demo's defaults): both nodes start, deer_node
   acts, every scheduled episode ends, the launch exits by itself with code 0;
3. the same with `checkpoint:=''` and `checkpoint:=none`, one reach episode: random weights.

Nothing is installed into the project's venv and nothing is committed: all of it lives under
--work (a temp dir unless given). Usage (about 5 minutes on 2 busy cores):

    PYTHONPATH=$PWD /work/main/.venv/bin/python dev/launch_check.py [--work DIR] [--keep]
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence

ROOT = pathlib.Path(__file__).resolve().parents[1]
MIRROR = pathlib.Path('/work/.mirror')
# (release repository, tag): the Kilted versions ENVIRONMENT.md names.
SOURCES = [
    ('ros2-gbp/launch-release', 'release/kilted/launch/3.8.8-1'),
    ('ros2-gbp/launch-release', 'release/kilted/launch_xml/3.8.8-1'),
    ('ros2-gbp/launch-release', 'release/kilted/launch_yaml/3.8.8-1'),
    ('ros2-gbp/launch_ros-release', 'release/kilted/launch_ros/0.28.6-1'),
    ('ros2-gbp/launch_ros-release', 'release/kilted/ros2launch/0.28.6-1'),
    ('ros2-gbp/ros2cli-release', 'release/kilted/ros2cli/0.38.4-1'),
    ('ros2-gbp/ros2cli-release', 'release/kilted/ros2pkg/0.38.4-1'),
    ('ros2-gbp/ros2cli-release', 'release/kilted/ros2topic/0.38.4-1'),
    ('ros2-gbp/rosidl_runtime_py-release', 'release/kilted/rosidl_runtime_py/0.14.2-1'),
]
# Built with colcon beside deer_ros: rosidl interfaces (rcl_interfaces 2.3.0 is the wheel's).
CMAKE_SOURCES = [('ros2-gbp/rcl_interfaces-release',
                  'release/kilted/composition_interfaces/2.3.0-2')]
PYPI = ['osrf-pycommon==2.0.2']   # launch's one dependency that is not a ROS package
README_PUB = ['ros2', 'topic', 'pub', '--once', '-w', '1', '--keep-alive', '1.0', '/instruction',
              'std_msgs/String', "data: '{text}'", '--qos-durability', 'transient_local',
              '--qos-reliability', 'reliable']


def run(cmd: Sequence[str], **kwargs) -> str:
    """Run a command; its output; raise with the output's tail if it fails."""
    result = subprocess.run(list(cmd), capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({result.returncode}):\n'
                           + (result.stdout + result.stderr)[-4000:])
    return result.stdout


def export_sources(work: pathlib.Path, sources: List[tuple], into: str) -> Dict[str, str]:
    """Export (git archive) each tag of the mirrored release repositories; {tag: commit}."""
    commits = {}
    for repo, tag in sources:
        git = MIRROR / repo.replace('/', '+') / 'repo'
        if not git.exists():
            raise SystemExit(f'{git} missing: fetch github:{repo} first')
        commits[tag] = run(['git', '-C', str(git), 'rev-parse', f'{tag}^{{commit}}']).strip()
        dest = work / into / tag.split('/')[2]
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.Popen(['git', '-C', str(git), 'archive', tag],
                                   stdout=subprocess.PIPE)
        run(['tar', '-x', '-C', str(dest)], stdin=archive.stdout)
        archive.wait()
    return commits


def make_venv(work: pathlib.Path) -> pathlib.Path:
    """A venv that also sees this interpreter's site-packages (the ROS wheels), untouched."""
    venv = work / 'venv'
    run([sys.executable, '-m', 'venv', str(venv)])
    site_dir = next((venv / 'lib').glob('python3*/site-packages'))
    shared = [p for p in sys.path if p.endswith('site-packages') and sys.prefix in p][0]
    (site_dir / 'zz_project_venv.pth').write_text(
        f'import site; site.addsitedir({shared!r})\n')
    python = venv / 'bin' / 'python'
    pkgs = sorted(str(p) for p in (work / 'py_src').iterdir())
    run([str(python), '-m', 'pip', 'install', '-q', *PYPI])
    run([str(python), '-m', 'pip', 'install', '-q', '--no-deps', *pkgs])
    return venv


def colcon_build(work: pathlib.Path) -> pathlib.Path:
    """deer_ros (full, not messages-only) + composition_interfaces into work/ws/install."""
    src = work / 'ws' / 'src'
    ignore = shutil.ignore_patterns('.venv', 'build', 'install', 'log', '.git', 'runs',
                                    '__pycache__', '*.egg-info')
    shutil.copytree(ROOT, src / 'deer_ros', ignore=ignore)
    for path in (work / 'cmake_src').iterdir():
        shutil.move(str(path), src / path.name)
    # The wheels' CMake targets name include directories of their build machine: the same
    # workaround as our CMakeLists (deer_ros_drop_missing_includes), before the interfaces.
    ours = (ROOT / 'CMakeLists.txt').read_text()
    start = ours.index('function(deer_ros_drop_missing_includes)')
    end = ours.index('deer_ros_drop_missing_includes()', start) + len(
        'deer_ros_drop_missing_includes()')
    helper = work / 'drop_missing_includes.cmake'
    helper.write_text(ours[start:end] + '\n')
    cmake = src / 'composition_interfaces' / 'CMakeLists.txt'
    text = cmake.read_text()
    cmake.write_text(text.replace('rosidl_generate_interfaces(',
                                  f'include("{helper}")\nrosidl_generate_interfaces(', 1))
    prefix = sys.prefix
    env = dict(os.environ, AMENT_PREFIX_PATH=prefix, CMAKE_PREFIX_PATH=prefix)
    env.pop('PYTHONPATH', None)
    run([os.path.join(prefix, 'bin', 'colcon'), 'build', '--base-paths', 'src',
         '--cmake-args', f'-DPython3_EXECUTABLE={sys.executable}', '-DBUILD_TESTING=OFF'],
        cwd=work / 'ws', env=env, timeout=1200)
    return work / 'ws' / 'install'


class Launch:
    """`ros2 launch ...` in the built environment, its output collected line by line."""

    def __init__(self, env: Dict[str, str], args: Sequence[str]):
        self.args = list(args)
        self.proc = subprocess.Popen(['ros2', 'launch', *args], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout_s: float) -> bool:
        """Whether `text` appears in the output within timeout_s."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            if self.proc.poll() is not None and not self._reader.is_alive():
                return any(text in line for line in self.lines)
            time.sleep(0.2)
        return False

    def count(self, text: str) -> int:
        """Output lines containing text."""
        return sum(text in line for line in list(self.lines))

    def stop(self, timeout_s: float = 60.0) -> Optional[int]:
        """SIGINT as a terminal's Ctrl-C would (the whole process group); the exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return None
        finally:
            self._reader.join(5.0)


def ros_env(venv: pathlib.Path, install: pathlib.Path) -> Dict[str, str]:
    """The environment of `source install/setup.bash` with the venv's ros2 first on PATH."""
    out = run(['bash', '-c', f'source "{install}/setup.bash" && env -0'],
              env=dict(os.environ, AMENT_PREFIX_PATH=sys.prefix, PYTHONPATH=''))
    env = dict(line.split('=', 1) for line in out.split('\0') if '=' in line)
    env['PATH'] = f'{venv}/bin:{env["PATH"]}'
    env['PYTHONUNBUFFERED'] = '1'
    env.setdefault('ROS_DOMAIN_ID', os.environ.get('ROS_DOMAIN_ID', '45'))
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    return env


def check_deer_launch(env: Dict[str, str], work: pathlib.Path) -> Dict[str, object]:
    """deer.launch.py: active, acts, use_gripper_camera from the file, README's pub delivers."""
    import numpy as np
    import rclpy
    import rclpy.executors
    from rcl_interfaces.srv import GetParameters
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from deer_ros.msg import ActionCommand
    from deer_ros.ros_io.command_output import COMMAND_QOS
    params = work / 'robot.yaml'
    params.write_text('/**/deer_node:\n  ros__parameters:\n    autostart: true\n'
                      '    use_gripper_camera: true\n    control_rate_hz: 5.0\n'
                      '    model: {device: cpu, cpu_threads: 1}\n'
                      '    safety: {stale_image_s: 5.0}\n')
    results: Dict[str, object] = {}
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(env['ROS_DOMAIN_ID']))
    node = rclpy.create_node('launch_check', context=context)
    try:
        actions: List[ActionCommand] = []
        node.create_subscription(ActionCommand, '/action', actions.append, COMMAND_QOS)
        static = node.create_publisher(Image, '/camera/static/image_raw', qos_profile_sensor_data)
        gripper = node.create_publisher(Image, '/camera/gripper/image_raw',
                                        qos_profile_sensor_data)
        get = node.create_client(GetParameters, '/deer_node/get_parameters')

        def frame() -> Image:
            pixels = np.random.default_rng(len(actions)).integers(0, 256, (64, 64, 3), np.uint8)
            msg = Image(height=64, width=64, encoding='rgb8', step=192, data=pixels.tobytes())
            msg.header.stamp = node.get_clock().now().to_msg()
            return msg

        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)

        def spin(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)

        runs = (('file', [], True), ('argument', ['use_gripper_camera:=false'], False))
        pubs: List[int] = []
        for label, extra, expected in runs:
            launch = Launch(env, ['deer_ros', 'deer.launch.py', f'params_file:={params}', *extra])
            try:
                active = launch.wait_for('active: acting', 180.0)
                value = None
                if active and get.wait_for_service(timeout_sec=20.0):
                    future = get.call_async(GetParameters.Request(names=['use_gripper_camera']))
                    end = time.monotonic() + 20.0
                    while not future.done() and time.monotonic() < end:
                        executor.spin_once(timeout_sec=0.05)
                    value = future.result().values[0].bool_value if future.done() else None
                delivered = 0
                for i in range(5):   # each run: a new node needs an instruction to act
                    text = f'open the drawer {label} {i}'
                    run([part.format(text=text) for part in README_PUB], env=env, timeout=60)
                    delivered += launch.wait_for(f"instruction: '{text}'", 10.0)
                pubs.append(delivered)
                moving = 0
                end = time.monotonic() + 60.0
                while moving < 3 and time.monotonic() < end:
                    static.publish(frame())
                    gripper.publish(frame())
                    spin(0.2)
                    moving = sum(not a.hold for a in actions)
                code = launch.stop()
                results[f'deer.launch.py use_gripper_camera from {label}'] = {
                    'active': active, 'use_gripper_camera': value, 'expected': expected,
                    'motion_commands': moving, 'exit_code': code,
                    'final_hold': launch.count('final hold') > 0}
                actions.clear()
            finally:
                launch.stop()
        results['readme_pub_delivered'] = f'{sum(pubs)}/{5 * len(runs)}'
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
    return results


def check_sim_demo(env: Dict[str, str], args: Sequence[str], timeout_s: float
                   ) -> Dict[str, object]:
    """sim_demo.launch.py ends by itself after its episodes; what they gave."""
    launch = Launch(env, ['deer_ros', 'sim_demo.launch.py', *args])
    started = time.monotonic()
    try:
        code = launch.proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        code = None
    launch.stop()
    return {'args': list(args), 'exit_code': code, 'seconds': round(time.monotonic() - started),
            'deer_node_active': launch.count('active: acting') > 0,
            'random_weights': launch.count('RANDOM weights') > 0,
            'episodes_done': launch.count(' done: success') + launch.count(' done: failure'),
            'successes': launch.count(' done: success'),
            'schedule_done': launch.count('scheduled episodes done') > 0,
            'held_out_seeds': launch.count(' seed 1000 ') > 0}


def main() -> int:
    """Build, run, print a JSON result; exit 0 when every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work', help='build directory (default: a new temp dir)')
    parser.add_argument('--keep', action='store_true', help='keep the build directory')
    parser.add_argument('--reuse', action='store_true',
                        help='with --work: reuse its venv and colcon install (iterating)')
    parser.add_argument('--demo-timeout', type=float, default=600.0)
    args = parser.parse_args()
    work = pathlib.Path(args.work or tempfile.mkdtemp(prefix='deer_launch_check_'))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        reuse = args.reuse and (work / 'ws' / 'install').exists()
        if reuse:
            commits = {tag: 'reused build' for _, tag in SOURCES + CMAKE_SOURCES}
            venv, install = work / 'venv', work / 'ws' / 'install'
        else:
            commits = export_sources(work, SOURCES, 'py_src')
            commits.update(export_sources(work, CMAKE_SOURCES, 'cmake_src'))
            venv = make_venv(work)
            install = colcon_build(work)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        env = ros_env(venv, install)
        result: Dict[str, object] = {'sources': commits, 'pypi': PYPI}
        result.update(check_deer_launch(env, work))
        result['sim_demo defaults'] = check_sim_demo(env, [], args.demo_timeout)
        for value in ("''", 'none'):
            result[f'sim_demo checkpoint:={value}'] = check_sim_demo(
                env, [f'checkpoint:={value}', 'tasks:=[reach-v3]', 'episodes_per_task:=1'],
                args.demo_timeout)
        result['seconds'] = round(time.monotonic() - started)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0 if verdict(result) else 1


def verdict(result: Dict[str, object]) -> bool:
    """Every check as docs/node.md states it; prints the failed ones."""
    failed = []
    for key, value in result.items():
        if key.startswith('deer.launch.py'):
            ok = (value['active'] and value['use_gripper_camera'] == value['expected']
                  and value['motion_commands'] >= 3 and value['exit_code'] == 0)
        elif key.startswith('sim_demo'):
            random = 'checkpoint' in key
            ok = (value['exit_code'] == 0 and value['deer_node_active']
                  and value['schedule_done'] and value['random_weights'] == random)
        elif key == 'readme_pub_delivered':
            ok = value.split('/')[0] == value.split('/')[1]
        else:
            continue
        if not ok:
            failed.append(key)
    print('RESULT:', 'PASS' if not failed else f'FAIL {failed}')
    return not failed


if __name__ == '__main__':
    sys.exit(main())
