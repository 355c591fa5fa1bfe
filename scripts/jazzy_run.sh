#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Run a command against the ROS 2 Jazzy test runtime that scripts/jazzy_env.sh built, with DDS
# traffic confined to this machine:
#   scripts/jazzy_run.sh COMMAND [ARGS...]
# e.g. scripts/jazzy_run.sh .venv-jazzy/bin/python -m pytest test/ros
# It is scripts/loopback_run.sh (the loopback-only namespaces, ROS_DOMAIN_ID, ROS_LOG_DIR) with
# INFINITEVGGT_ROS_DISTRO=jazzy, so that scripts/ros_env.sh sets up .venv-jazzy, the stand-in
# tf2_msgs built against Jazzy and this package's Jazzy build .build/ws-jazzy (first on
# AMENT_PREFIX_PATH: the node tests find the stream_node executable there) instead of Kilted's.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "$#" -eq 0 ]; then
  echo "usage: scripts/jazzy_run.sh COMMAND [ARGS...]" >&2
  exit 2
fi
for built in .venv-jazzy/bin/python .build/jazzy/tf2_msgs/install/share/tf2_msgs/package.xml \
  .build/ws-jazzy/install/share/infinitevggt_ros/package.xml; do
  [ -e "$repo_root/$built" ] || {
    echo "jazzy_run: $built not found; run scripts/jazzy_env.sh first" >&2
    exit 1
  }
done

export INFINITEVGGT_ROS_DISTRO=jazzy
exec "$repo_root/scripts/loopback_run.sh" "$@"
