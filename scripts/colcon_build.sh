#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Build this package with colcon into .build/ws (merged install), as a ROS 2 workspace
# would, against the dev runtime: the ros-* wheels in .venv and the ROS tools overlay (or,
# without ../shared/ros_tools, the stand-in tf2_msgs) that scripts/dev_env.sh built.
# Its share/ (package.xml, launch/, config/) is then found through ament_index.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ws="$repo_root/.build/ws"
venv="$repo_root/.venv"

[ -x "$venv/bin/colcon" ] || { echo "colcon_build: run scripts/dev_env.sh first" >&2; exit 1; }

mkdir -p "$ws"
touch "$repo_root/.build/COLCON_IGNORE"
cd "$ws"
# A clean install tree, so files deleted from launch/ or config/ do not linger in share/.
rm -rf "$ws/build" "$ws/install"
export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
tools="$repo_root/.build/tf2_msgs/install"
[ -f "$repo_root/.build/ros_tools/overlay.stamp" ] && tools="$repo_root/.build/ros_tools/install"
export AMENT_PREFIX_PATH="$tools:$venv"
colcon --log-base log build --merge-install --paths "$repo_root" \
  --event-handlers console_direct-
