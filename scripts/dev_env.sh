#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Create or update the development environment (idempotent):
#   .venv/                 Python 3.11 with the pinned stack (constraints/) and this package
#                          installed editable
#   .build/tf2_msgs/       stand-in tf2_msgs interface package (TFMessage only), built with
#                          colcon from tools/tf2_msgs_standin; never part of a user workspace
#   .build/setup.stamp     hash of every input below; when it matches, nothing is redone
# Usage: scripts/dev_env.sh [--force]
# The colcon build of this package itself is scripts/colcon_build.sh (make build).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv="$repo_root/.venv"
stamp="$repo_root/.build/setup.stamp"
standin_ws="$repo_root/.build/tf2_msgs"
force=0
[ "${1:-}" = "--force" ] && force=1

log() { echo "dev_env: $*"; }
die() { echo "dev_env: error: $*" >&2; exit 1; }

# Everything the setup depends on; a change to any of them redoes the setup.
setup_inputs=(
  constraints/requirements-dev.txt constraints/lock.txt
  scripts/dev_env.sh scripts/fix_wheel_cmake.py
  setup.py setup.cfg package.xml
  tools/tf2_msgs_standin/package.xml tools/tf2_msgs_standin/CMakeLists.txt
  tools/tf2_msgs_standin/msg/TFMessage.msg
)
setup_key="$(cat "${setup_inputs[@]}" | sha256sum | cut -d' ' -f1)"

if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$setup_key" ] \
  && "$venv/bin/python" -c "" 2>/dev/null \
  && [ -f "$standin_ws/install/share/tf2_msgs/package.xml" ]; then
  log "up to date (.build/setup.stamp matches); use --force to redo"
  exit 0
fi

# --- system tools: a compiler and CMake for the interface package, namespaces for tests ---
missing=()
for tool in cmake g++ make unshare ip; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing system packages for: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++ make util-linux iproute2
  else
    die "missing tools: ${missing[*]} (Debian: apt-get install cmake g++ make util-linux iproute2)"
  fi
fi

# --- Python 3.11 virtual environment ---
if ! "$venv/bin/python" -c "import sys; assert sys.version_info[:2] == (3, 11)" 2>/dev/null; then
  python=""
  for candidate in "${PYTHON:-}" python3.11 python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c "import sys; assert sys.version_info[:2] == (3, 11)" 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
  [ -n "$python" ] || die "Python 3.11 not found (set PYTHON=/path/to/python3.11)"
  log "creating .venv with $python"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

# Some machines list local package indexes that lack most projects; pip warns once per
# project about each. Drop only those lines.
pip_install() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "^WARNING: Location 'file://.*' is ignored" >&2 || true)
}

log "installing the pinned Python stack (constraints/lock.txt)"
pip_install -r constraints/requirements-dev.txt -c constraints/lock.txt
log "installing infinitevggt_ros editable"
pip_install --no-deps --no-build-isolation -e .

"$venv/bin/python" scripts/fix_wheel_cmake.py

# --- stand-in tf2_msgs (TFMessage only): the ROS 2 wheels do not ship tf2_msgs ---
log "building the stand-in tf2_msgs in .build/tf2_msgs"
rm -rf "$standin_ws"
mkdir -p "$standin_ws/src/tf2_msgs"
cp -r tools/tf2_msgs_standin/package.xml tools/tf2_msgs_standin/CMakeLists.txt \
  tools/tf2_msgs_standin/msg "$standin_ws/src/tf2_msgs/"
touch "$repo_root/.build/COLCON_IGNORE"  # keep colcon runs elsewhere from crawling .build
(
  cd "$standin_ws"
  export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv"
  colcon --log-base log build --merge-install --base-paths src \
    --event-handlers console_direct- --cmake-args -DBUILD_TESTING=OFF -Wno-dev
) || die "building the stand-in tf2_msgs failed; logs in .build/tf2_msgs/log"

echo "$setup_key" >"$stamp"
log "done in ${SECONDS} s"
