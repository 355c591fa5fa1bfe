#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Build .gpu_site/: the pure-Python ROS message modules the replay imports (ros/convert.py),
# copied from the dev venv's Kilted wheels, so benchmarks/e2e_replay.py runs on a machine
# without ROS (the GPU machines: Python 3.12, torch, no rclpy, no rosbags, no pip access).
#
# Only *.py files are copied: the generated message classes are plain Python that import
# rosidl_parser.definition (stdlib only); the compiled typesupport (.so) is needed only to
# serialise or publish, which a replay without a bag never does. rosidl_parser.parser (lark)
# is copied but never imported.
#
# Usage: benchmarks/make_gpu_site.sh [SITE_PACKAGES [DEST]]
#   defaults: .venv/lib/python3.11/site-packages  .gpu_site
# Then, on the GPU machine (the device tool carries ".gpu_site"):
#   PYTHONPATH=$PWD:$PWD/.gpu_site python3 benchmarks/e2e_replay.py --frames 300 \
#       --output $OUT/e2e.json
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
site="${1:-$repo_root/.venv/lib/python3.11/site-packages}"
dest="${2:-$repo_root/.gpu_site}"

# The message packages ros/convert.py and the replay import, their message dependencies
# (service_msgs: the services of nav_msgs / sensor_msgs) and the module they all import.
packages=(builtin_interfaces std_msgs geometry_msgs nav_msgs sensor_msgs service_msgs
  rosidl_parser)

for pkg in "${packages[@]}"; do
  [ -d "$site/$pkg" ] || { echo "make_gpu_site: error: $site/$pkg not found" >&2; exit 1; }
done
rm -rf "$dest"
mkdir -p "$dest"
for pkg in "${packages[@]}"; do
  (cd "$site" && find "$pkg" -name '*.py' -not -path '*/__pycache__/*' -print0 \
    | xargs -0 cp --parents -t "$dest")
done

# Proof: the message classes import and build from .gpu_site and numpy alone (python -S: no
# site-packages, so none of the venv's ROS packages).
python_bin="${PYTHON:-$repo_root/.venv/bin/python}"
numpy_only="$(mktemp -d)"
trap 'rm -rf "$numpy_only"' EXIT
for entry in numpy numpy.libs; do
  [ -e "$site/$entry" ] && ln -s "$site/$entry" "$numpy_only/$entry"
done
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$numpy_only" "$python_bin" -S -c '
import sys
sys.path.insert(0, sys.argv[1])
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
for module in ("geometry_msgs", "nav_msgs", "sensor_msgs", "std_msgs", "rosidl_parser"):
    assert sys.modules[module].__file__.startswith(sys.argv[1]), module
Path(poses=[]), CameraInfo(width=2), Image(height=1), PointCloud2(), Header(frame_id="x")
TransformStamped(child_frame_id="c")
' "$dest" || { echo "make_gpu_site: error: the copied modules do not import" >&2; exit 1; }

echo "make_gpu_site: $(find "$dest" -name '*.py' | wc -l) files, $(du -sh "$dest" | cut -f1)" \
  "in $dest"
