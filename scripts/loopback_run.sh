#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Run a command with DDS traffic confined to this machine:
#   scripts/loopback_run.sh COMMAND [ARGS...]
# The command runs in new network and mount namespaces: the only interface is `lo`, /dev/shm
# is a private tmpfs (Fast DDS shared-memory segments of concurrent runs never meet), /sys
# is remounted so /sys/class/net shows this namespace. It also gets the dev runtime
# (scripts/ros_env.sh), ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, a per-run ROS_DOMAIN_ID and
# a temporary ROS_LOG_DIR (kept and printed if the command fails).
# If the namespaces cannot be created the run fails: it never falls back to the open network.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "$#" -eq 0 ]; then
  echo "usage: scripts/loopback_run.sh COMMAND [ARGS...]" >&2
  exit 2
fi

fail() {
  echo "loopback_run: $*" >&2
  echo "loopback_run: refusing to start DDS participants outside a loopback-only namespace." >&2
  exit 1
}

command -v unshare >/dev/null 2>&1 || fail "'unshare' not found (Debian package util-linux)"
command -v ip >/dev/null 2>&1 || fail "'ip' not found (Debian package iproute2)"
unshare_args=(--net --mount --propagation private)
# Without root, a user namespace in which we are root may create the other two.
[ "$(id -u)" -eq 0 ] || unshare_args=(--map-root-user "${unshare_args[@]}")
if ! probe_error="$(unshare "${unshare_args[@]}" true 2>&1)"; then
  fail "cannot create network/mount namespaces (needs root or user namespaces): $probe_error"
fi

# shellcheck source=scripts/ros_env.sh
source "$repo_root/scripts/ros_env.sh"

ROS_LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/infinitevggt_ros_log.XXXXXX")"
export ROS_LOG_DIR
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
unset ROS_STATIC_PEERS ROS_LOCALHOST_ONLY
# Namespaces already separate concurrent runs; a per-run id also keeps logs telling them apart.
export ROS_DOMAIN_ID="$(( ($$ % 100) + 1 ))"
export INFINITEVGGT_ROS_LOOPBACK_RUN=1

set +e
unshare "${unshare_args[@]}" -- bash -c '
  set -e
  mount -t tmpfs -o mode=1777 infinitevggt_shm /dev/shm
  mount -t sysfs infinitevggt_sysfs /sys
  ip link set lo up
  exec "$@"
' loopback_run "$@"
rc=$?
set -e

if [ "$rc" -eq 0 ]; then
  rm -rf "$ROS_LOG_DIR"
else
  echo "loopback_run: exit status $rc; ROS logs kept in $ROS_LOG_DIR" >&2
fi
exit "$rc"
