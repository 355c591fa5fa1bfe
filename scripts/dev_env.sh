#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Create or update the development environment (idempotent):
#   .venv/                 Python 3.11 with the pinned stack (constraints/) and this package
#                          installed editable
#   .build/ros_tools/      where ../shared/ros_tools exists (development machines, CI): the
#                          upstream ROS 2 tools that have no wheel (launch, launch_ros,
#                          launch_testing, the ros2 command, sensor_msgs_py, the real tf2,
#                          tf2_msgs, tf2_py, tf2_ros), built from its archive with colcon as an
#                          overlay on .venv; install/ is the prefix, overlay.stamp its inputs' hash
#   .build/tf2_msgs/       only without that archive: a stand-in tf2_msgs interface package
#                          (TFMessage only) built from tools/tf2_msgs_standin; never part of a
#                          user workspace, and removed once the real tf2_msgs is built
#   .build/setup.stamp     hash of every input below; when it matches, nothing is redone
# Usage: scripts/dev_env.sh [--force]
# The colcon build of this package itself is scripts/colcon_build.sh (make build).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv="$repo_root/.venv"
stamp="$repo_root/.build/setup.stamp"
standin_ws="$repo_root/.build/tf2_msgs"
# CI lays out a fresh clone with shared/ beside it, as on development machines.
ros_tools_archive="$repo_root/../shared/ros_tools/ros2-python-tools-src.tar.gz"
overlay="$repo_root/.build/ros_tools"
force=0
[ "${1:-}" = "--force" ] && force=1

log() { echo "dev_env: $*"; }
die() { echo "dev_env: error: $*" >&2; exit 1; }
# shellcheck source=scripts/venv_lib.sh
source "$repo_root/scripts/venv_lib.sh"

# Everything the setup depends on; a change to any of them redoes the setup.
setup_inputs=(
  constraints/requirements-dev.txt constraints/lock.txt
  scripts/dev_env.sh scripts/venv_lib.sh scripts/fix_wheel_cmake.py
  setup.py setup.cfg package.xml
  tools/tf2_msgs_standin/package.xml tools/tf2_msgs_standin/CMakeLists.txt
  tools/tf2_msgs_standin/msg/TFMessage.msg
)
if [ -f "$ros_tools_archive" ]; then
  archive_sum="$(sha256sum "$ros_tools_archive" | cut -d' ' -f1)"
else
  archive_sum="none"
fi
setup_key="$({ cat "${setup_inputs[@]}"; echo "ros_tools $archive_sum"; } | sha256sum | cut -d' ' -f1)"

# The upstream tools of ../shared/ros_tools as a colcon overlay on .venv. Rebuilt only when the
# archive, the pinned stack or this function change (its own stamp): about a minute.
build_ros_tools() {
  rm -rf "$overlay"
  mkdir -p "$overlay/sources"
  touch "$overlay/COLCON_IGNORE"
  tar -xzf "$ros_tools_archive" -C "$overlay/sources"
  # tf2 needs ament_cmake_ros only for its tests (it finds gmock/gtest, which have no wheel
  # here) and for the BUILD_SHARED_LIBS default, given below: drop it in this build copy.
  local tf2_cmake="$overlay/sources/src_tf2/ros2+geometry2/tf2/CMakeLists.txt"
  grep -qx 'find_package(ament_cmake_ros REQUIRED)' "$tf2_cmake" \
    || die "$tf2_cmake no longer calls find_package(ament_cmake_ros REQUIRED); update dev_env.sh"
  sed -i 's/^find_package(ament_cmake_ros REQUIRED)$//' "$tf2_cmake"
  (
    cd "$overlay"
    # Only the venv below: the real tf2_msgs is built here, the stand-in must not be seen.
    export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv"
    unset PYTHONPATH CMAKE_PREFIX_PATH
    colcon --log-base log build --merge-install --base-paths sources \
      --build-base build --install-base install --event-handlers console_direct- \
      --cmake-args -DBUILD_TESTING=OFF -DBUILD_SHARED_LIBS=ON \
      "-DPython3_EXECUTABLE=$venv/bin/python" -Wno-dev >"$overlay/build.log" 2>&1
  ) || { tail -n 40 "$overlay/build.log" >&2; die "building the ROS tools overlay failed; \
full log in .build/ros_tools/build.log"; }
  rm -rf "$overlay/build"  # intermediate files only: 100+ MB
}
overlay_key=""
if [ -f "$ros_tools_archive" ]; then
  overlay_key="$({ echo "$archive_sum"; cat constraints/lock.txt; declare -f build_ros_tools; } \
    | sha256sum | cut -d' ' -f1)"
fi
# What the previous run left is what this run would build: the real tools, or the stand-in.
runtime_built() {
  if [ -n "$overlay_key" ]; then
    [ -f "$overlay/overlay.stamp" ] && [ "$(cat "$overlay/overlay.stamp")" = "$overlay_key" ]
  else
    [ -f "$standin_ws/install/share/tf2_msgs/package.xml" ]
  fi
}

if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$setup_key" ] \
  && "$venv/bin/python" -c "" 2>/dev/null && runtime_built; then
  log "up to date (.build/setup.stamp matches); use --force to redo"
  exit 0
fi

# --- system tools: a compiler and CMake for the interface package, namespaces for tests ---
ensure_tools cmake g++ make unshare ip -- cmake g++ make util-linux iproute2

# --- Python 3.11 virtual environment ---
ensure_python311_venv "$venv"

log "installing the pinned Python stack (constraints/lock.txt)"
pip_install -r constraints/requirements-dev.txt -c constraints/lock.txt
log "installing infinitevggt_ros editable"
pip_install --no-deps --no-build-isolation -e .

"$venv/bin/python" scripts/fix_wheel_cmake.py

mkdir -p "$repo_root/.build"
touch "$repo_root/.build/COLCON_IGNORE"  # keep colcon runs elsewhere from crawling .build
if [ -n "$overlay_key" ]; then
  # --- the upstream ROS 2 tools (../shared/ros_tools), the real tf2_msgs among them ---
  if [ "$force" -eq 0 ] && runtime_built; then
    log "ROS tools overlay up to date (.build/ros_tools/overlay.stamp matches)"
  else
    log "building the ROS tools overlay from ../shared/ros_tools into .build/ros_tools"
    overlay_start=$SECONDS
    build_ros_tools
    echo "$overlay_key" >"$overlay/overlay.stamp"
    log "ROS tools overlay built in $((SECONDS - overlay_start)) s"
  fi
  # Two tf2_msgs on the library path make the wheels' loader fail at random.
  rm -rf "$standin_ws"
else
  rm -rf "$overlay"  # built from an archive that is gone: never half-used
  # --- stand-in tf2_msgs (TFMessage only): the ROS 2 wheels do not ship tf2_msgs ---
  log "building the stand-in tf2_msgs in .build/tf2_msgs (../shared/ros_tools not found)"
  rm -rf "$standin_ws"
  mkdir -p "$standin_ws/src/tf2_msgs"
  cp -r tools/tf2_msgs_standin/package.xml tools/tf2_msgs_standin/CMakeLists.txt \
    tools/tf2_msgs_standin/msg "$standin_ws/src/tf2_msgs/"
  (
    cd "$standin_ws"
    export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv"
    colcon --log-base log build --merge-install --base-paths src \
      --event-handlers console_direct- --cmake-args -DBUILD_TESTING=OFF -Wno-dev
  ) || die "building the stand-in tf2_msgs failed; logs in .build/tf2_msgs/log"
fi

echo "$setup_key" >"$stamp"
log "done in ${SECONDS} s"
