#!/usr/bin/env bash
# Fresh-machine set-up: a virtual environment in .venv with ROS 2 Kilted (PyPI ros-* wheels), the ML
# stack, the simulator and the test tools; then the deer_ros messages built with colcon. Idempotent:
# every stage is skipped while the files it depends on are unchanged, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${DEER_ROS_VENV:-$ROOT/.venv}
STAMPS=$ROOT/build/stamps
mkdir -p "$STAMPS"
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
stamp_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

# 1. System packages: OSMesa for headless MuJoCo rendering (MetaWorld).
if ! ldconfig -p 2>/dev/null | grep -q libOSMesa; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing libosmesa6 (headless rendering for the simulator)"
    (apt-get install -y -q libosmesa6 >/dev/null 2>&1 ||
      (apt-get update -q >/dev/null && apt-get install -y -q libosmesa6 >/dev/null)) ||
      log "WARNING: libosmesa6 could not be installed; simulator rendering will fail"
  else
    log "WARNING: libOSMesa missing and not root: apt-get install libosmesa6 for the simulator"
  fi
fi

# 2. Python environment.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  python3 -m venv "$VENV"
fi
PY=$VENV/bin/python
PIP="$PY -m pip install -q --disable-pip-version-check"
# requirements/constraints.txt pins every version CI tested; DEER_ROS_UNPINNED=1 installs the
# newest allowed instead (only to upgrade the pins: see README.md).
if [ "${DEER_ROS_UNPINNED:-0}" = 1 ]; then
  log "DEER_ROS_UNPINNED=1: installing without requirements/constraints.txt"
else
  PIP="$PIP -c requirements/constraints.txt"
fi
req=$(stamp_of requirements/*.txt scripts/setup_env.sh)
[ "${DEER_ROS_UNPINNED:-0}" = 1 ] && req="$req-unpinned"
if ! fresh requirements "$req"; then
  log "installing torch (CUDA build; runs on CPU too), ~2 min on first run"
  $PIP torch==2.15.0
  log "installing ROS 2 Kilted wheels"
  $PIP -r requirements/ros.txt
  log "installing the ML stack, simulator and test tools"
  $PIP -r requirements/ml.txt -r requirements/test.txt
  $PIP --no-deps open-flamingo==2.0.1
  $PIP --no-deps lerobot==0.4.4
  echo "$req" > "$STAMPS/requirements"
fi
pkg=$(stamp_of setup.py setup.cfg pyproject.toml)
if ! fresh package "$pkg" || ! "$PY" -c 'import deer_ros.cli' 2>/dev/null; then
  log "installing deer_ros (editable)"
  $PIP --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
  echo "$pkg" > "$STAMPS/package"
fi

# 3. Messages: colcon builds msg/ and action/ against the wheels into build/ros/install.
msgs=$(stamp_of CMakeLists.txt package.xml msg/*.msg action/*.action)
INSTALL=$ROOT/build/ros/install
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PYVER=$("$PY" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')
if ! fresh messages "$msgs" || [ ! -d "$INSTALL/deer_ros/lib/$PYVER/site-packages/deer_ros/msg" ]; then
  log "building deer_ros messages with colcon"
  rm -rf "$ROOT/build/ros"
  (
    export AMENT_PREFIX_PATH=$VENV CMAKE_PREFIX_PATH=$VENV PATH=$VENV/bin:$PATH
    "$VENV/bin/colcon" --log-base build/ros/log build --base-paths "$ROOT" \
      --build-base build/ros/build --install-base "$INSTALL" \
      --event-handlers console_cohesion- status- summary+ \
      --cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_MESSAGES_ONLY=ON -DBUILD_TESTING=OFF
  ) > "$STAMPS/colcon.log" 2>&1 || { cat "$STAMPS/colcon.log"; exit 1; }
  echo "$msgs" > "$STAMPS/messages"
fi
# The venv finds the generated modules (deer_ros/__init__.py extends its path to them). The rmw
# dlopen()s type-support libraries by name; the ros wheels' bootstrap puts the venv's lib/ on
# LD_LIBRARY_PATH, so link ours there.
for lib in "$INSTALL"/deer_ros/lib/libdeer_ros__*.so; do ln -sf "$lib" "$VENV/lib/"; done
echo "$INSTALL/deer_ros/lib/$PYVER/site-packages" > "$SITE/zz_deer_ros_messages.pth"
# ament_index needs AMENT_PREFIX_PATH; wheels do not set it, so the venv's activate script does.
if ! grep -q AMENT_PREFIX_PATH "$VENV/bin/activate"; then
  echo "export AMENT_PREFIX_PATH=$INSTALL/deer_ros:$VENV" >> "$VENV/bin/activate"
fi
"$PY" -c 'from deer_ros.msg import ActionCommand, InferenceTelemetry; from deer_ros.action import RunInstruction' \
  || { log "ERROR: deer_ros messages do not import"; exit 1; }
log "environment ready: $VENV"
