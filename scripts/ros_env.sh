# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Environment of the development ROS 2 runtime built by scripts/dev_env.sh.
# Source it (bash): `source scripts/ros_env.sh`. It only sets variables; DDS traffic is NOT
# confined by it: run anything that starts DDS participants through scripts/loopback_run.sh.

_ivr_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_ivr_standin="$_ivr_root/.build/tf2_msgs/install"
_ivr_ws="$_ivr_root/.build/ws/install"

export VIRTUAL_ENV="$_ivr_root/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
# Our colcon install first (share/ files), then the stand-in tf2_msgs, then the ros-* wheels.
export AMENT_PREFIX_PATH="$_ivr_ws:$_ivr_standin:$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
for _ivr_sp in "$_ivr_standin"/lib/python3*/site-packages; do
  [ -d "$_ivr_sp" ] && export PYTHONPATH="$_ivr_sp${PYTHONPATH:+:$PYTHONPATH}"
done
export LD_LIBRARY_PATH="$_ivr_standin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export FASTDDS_DEFAULT_PROFILES_FILE="$_ivr_root/scripts/fastdds_shm_profile.xml"
unset _ivr_root _ivr_standin _ivr_ws _ivr_sp
