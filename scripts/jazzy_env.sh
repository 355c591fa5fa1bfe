#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Create or update the ROS 2 Jazzy test runtime (idempotent), beside the Kilted one of
# scripts/dev_env.sh, so that the ROS tests also run against Jazzy (make test-jazzy):
#   .venv-jazzy/             Python 3.11 with the ros-jazzy-* wheels and the package's Python
#                            dependencies (constraints/requirements-jazzy.txt, pinned by
#                            constraints/lock-jazzy.txt) and this package installed editable
#   .build/jazzy/tf2_msgs/   the stand-in tf2_msgs (TFMessage only, tools/tf2_msgs_standin)
#                            built against Jazzy; the wheels do not ship tf2_msgs
#   .build/jazzy/setup.stamp hash of every input of the two above; when it matches, they are
#                            not redone
#   .build/ws-jazzy/         the colcon build of this package against Jazzy (rebuilt on every
#                            run, about 3 s, as scripts/colcon_build.sh does for Kilted)
# The upstream ROS tools overlay (../shared/ros_tools: launch, launch_ros, the ros2 command,
# sensor_msgs_py, tf2_ros) is rolling code and is not built for Jazzy: the tests that need it
# skip with their reason. Run things in this runtime with scripts/jazzy_run.sh.
# Usage: scripts/jazzy_env.sh [--force]   set up (--force: redo everything)
#        scripts/jazzy_env.sh --lock      rewrite constraints/lock-jazzy.txt from .venv-jazzy
# Without constraints/lock-jazzy.txt the setup pins the non-ROS packages to
# constraints/lock.txt (the same versions as Kilted) and lets the ros-jazzy-* wheels pin the
# ROS ones; `--lock` then records the result.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv="$repo_root/.venv-jazzy"
state="$repo_root/.build/jazzy"
stamp="$state/setup.stamp"
standin_ws="$state/tf2_msgs"
ws="$repo_root/.build/ws-jazzy"
requirements=constraints/requirements-jazzy.txt
lock=constraints/lock-jazzy.txt
force=0
case "${1:-}" in
  --force) force=1 ;;
  --lock) ;;
  "") ;;
  *) echo "usage: scripts/jazzy_env.sh [--force | --lock]" >&2; exit 2 ;;
esac

log() { echo "jazzy_env: $*"; }
die() { echo "jazzy_env: error: $*" >&2; exit 1; }
# shellcheck source=scripts/venv_lib.sh
source "$repo_root/scripts/venv_lib.sh"

if [ "${1:-}" = "--lock" ]; then
  "$venv/bin/python" -c "" 2>/dev/null || die "no .venv-jazzy to lock; run scripts/jazzy_env.sh"
  { echo "# Pinned versions of the Jazzy test runtime (pip freeze of a working .venv-jazzy;"
    echo "# regenerate with \`scripts/jazzy_env.sh --lock\`). Used as constraints by"
    echo "# scripts/jazzy_env.sh. The non-ROS packages match constraints/lock.txt."
    "$venv/bin/python" -m pip freeze --all --exclude-editable --disable-pip-version-check \
      | grep -v '^pip=='; } >"$lock.new"
  mv "$lock.new" "$lock"
  log "$lock: $(grep -vc '^#' "$lock") pinned packages"
  exit 0
fi

# The pins: the Jazzy lock, or, to make one, the Kilted lock without its ROS packages (the
# ros-* wheels and the Python distributions they carry, e.g. rclpy, sensor_msgs, rosidl_*).
constraints="$lock"
if [ ! -f "$lock" ]; then
  constraints="$state/lock-kilted-non-ros.txt"
  mkdir -p "$state"
  grep -vE '^(ros-|rclpy==|rcutils==|rmw_|rosidl_|ament_|[A-Za-z_]+_(msgs|srvs|interfaces)==)' \
    constraints/lock.txt >"$constraints"
fi

# Everything the setup depends on; a change to any of them redoes the setup.
setup_inputs=(
  "$requirements" "$constraints"
  scripts/jazzy_env.sh scripts/venv_lib.sh scripts/fix_wheel_cmake.py
  setup.py setup.cfg package.xml
  tools/tf2_msgs_standin/package.xml tools/tf2_msgs_standin/CMakeLists.txt
  tools/tf2_msgs_standin/msg/TFMessage.msg
)
setup_key="$(cat "${setup_inputs[@]}" | sha256sum | cut -d' ' -f1)"

# This package, built with colcon into .build/ws-jazzy against the Jazzy runtime only.
build_workspace() {
  mkdir -p "$ws"
  rm -rf "$ws/build" "$ws/install"  # a clean install tree, as scripts/colcon_build.sh
  (
    cd "$ws"
    export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
    export AMENT_PREFIX_PATH="$standin_ws/install:$venv"
    unset PYTHONPATH CMAKE_PREFIX_PATH
    colcon --log-base log build --merge-install --paths "$repo_root" \
      --event-handlers console_direct- >"$ws/build.log" 2>&1
  ) || { tail -n 40 "$ws/build.log" >&2; die "colcon build into .build/ws-jazzy failed; \
full log in .build/ws-jazzy/build.log"; }
}

if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$setup_key" ] \
  && "$venv/bin/python" -c "" 2>/dev/null \
  && [ -f "$standin_ws/install/share/tf2_msgs/package.xml" ]; then
  build_workspace
  log "up to date (.build/jazzy/setup.stamp matches; .build/ws-jazzy rebuilt); --force redoes it"
  exit 0
fi

# --- system tools: a compiler and CMake for the interface package ---
ensure_tools cmake g++ make -- cmake g++ make

# --- Python 3.11 virtual environment ---
ensure_python311_venv "$venv"

log "installing the Jazzy stack ($requirements, pinned by $constraints)"
pip_install -r "$requirements" -c "$constraints"
log "installing infinitevggt_ros editable"
pip_install --no-deps --no-build-isolation -e .

# The Kilted and the Jazzy wheels must never mix: a ros-* wheel at Kilted's version here means
# the pins are wrong.
"$venv/bin/python" - <<'EOF' || die "the Jazzy venv does not hold Jazzy's rclpy"
from importlib.metadata import version
v = version("ros-rclpy")
assert v.startswith("7."), f"ros-rclpy {v} is not Jazzy's (7.x)"
EOF

"$venv/bin/python" scripts/fix_wheel_cmake.py

mkdir -p "$state"
touch "$repo_root/.build/COLCON_IGNORE"  # keep colcon runs elsewhere from crawling .build
# --- stand-in tf2_msgs (TFMessage only), built against the Jazzy wheels ---
log "building the stand-in tf2_msgs in .build/jazzy/tf2_msgs"
rm -rf "$standin_ws"
mkdir -p "$standin_ws/src/tf2_msgs"
cp -r tools/tf2_msgs_standin/package.xml tools/tf2_msgs_standin/CMakeLists.txt \
  tools/tf2_msgs_standin/msg "$standin_ws/src/tf2_msgs/"
(
  cd "$standin_ws"
  export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv"
  unset PYTHONPATH CMAKE_PREFIX_PATH
  colcon --log-base log build --merge-install --base-paths src \
    --event-handlers console_direct- --cmake-args -DBUILD_TESTING=OFF -Wno-dev \
    "-DPython3_EXECUTABLE=$venv/bin/python" >"$standin_ws/build.log" 2>&1
) || { tail -n 40 "$standin_ws/build.log" >&2; die "building the stand-in tf2_msgs failed; \
full log in .build/jazzy/tf2_msgs/build.log"; }
rm -rf "$standin_ws/build"  # intermediate files only

build_workspace
echo "$setup_key" >"$stamp"
log "done in ${SECONDS} s"
