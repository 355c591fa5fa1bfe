# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# Environment of the development ROS 2 runtime built by scripts/dev_env.sh.
# Source it (bash): `source scripts/ros_env.sh`. It only sets variables; DDS traffic is NOT
# confined by it: run anything that starts DDS participants through scripts/loopback_run.sh.
#
# The runtime is the ros-* wheels in .venv plus, where dev_env.sh built it from
# ../shared/ros_tools, the overlay .build/ros_tools/install (launch, launch_ros, the ros2
# command, sensor_msgs_py, the real tf2_msgs and tf2_ros); else the stand-in tf2_msgs.
# Sourcing it again replaces what it set before.
# With INFINITEVGGT_ROS_DISTRO=jazzy (scripts/jazzy_run.sh sets it) it is the Jazzy test
# runtime of scripts/jazzy_env.sh instead: .venv-jazzy, the stand-in tf2_msgs built against it
# (.build/jazzy/tf2_msgs) and this package's build .build/ws-jazzy; unset or kilted: the above.

_ivr_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${INFINITEVGGT_ROS_DISTRO:-kilted}" in
  kilted)
    _ivr_venv="$_ivr_root/.venv"
    _ivr_other="$_ivr_root/.venv-jazzy"
    _ivr_ws="$_ivr_root/.build/ws/install"
    if [ -f "$_ivr_root/.build/ros_tools/overlay.stamp" ]; then
      _ivr_tools="$_ivr_root/.build/ros_tools/install"
    else
      _ivr_tools="$_ivr_root/.build/tf2_msgs/install"
    fi
    ;;
  jazzy)
    _ivr_venv="$_ivr_root/.venv-jazzy"
    _ivr_other="$_ivr_root/.venv"
    _ivr_ws="$_ivr_root/.build/ws-jazzy/install"
    _ivr_tools="$_ivr_root/.build/jazzy/tf2_msgs/install"
    ;;
  *)
    echo "ros_env.sh: INFINITEVGGT_ROS_DISTRO is '$INFINITEVGGT_ROS_DISTRO'; kilted or jazzy" >&2
    unset _ivr_root
    return 1
    ;;
esac

# A colon-separated list ($1) without the entries this file sets: anything under .build/ (an
# earlier sourcing's, and above all the stand-in tf2_msgs once the real one exists: two copies
# on the library path make the wheels' loader fail at random) and the venv's ($2), and the
# other runtime's venv's ($3), so that Kilted and Jazzy never mix.
_ivr_strip() {
  local entry kept=""
  local IFS=:
  for entry in $1; do
    case "$entry" in
      "" | "$_ivr_root"/.build/* | "${2:-}" | "${3:-}") ;;
      *) kept="${kept:+$kept:}$entry" ;;
    esac
  done
  printf '%s' "$kept"
}

export VIRTUAL_ENV="$_ivr_venv"
# The overlay's ros2 and launch_test, then the venv's python, colcon, ruff.
_ivr_rest="$(_ivr_strip "$PATH" "$VIRTUAL_ENV/bin" "$_ivr_other/bin")"
export PATH="$_ivr_tools/bin:$VIRTUAL_ENV/bin${_ivr_rest:+:$_ivr_rest}"
# Our colcon install first (share/ files), then the tools, then the ros-* wheels.
_ivr_rest="$(_ivr_strip "${AMENT_PREFIX_PATH:-}" "$VIRTUAL_ENV" "$_ivr_other")"
export AMENT_PREFIX_PATH="$_ivr_ws:$_ivr_tools:$VIRTUAL_ENV${_ivr_rest:+:$_ivr_rest}"
_ivr_rest="$(_ivr_strip "${PYTHONPATH:-}")"
for _ivr_sp in "$_ivr_tools"/lib/python3*/site-packages; do
  [ -d "$_ivr_sp" ] && _ivr_rest="$_ivr_sp${_ivr_rest:+:$_ivr_rest}"
done
export PYTHONPATH="$_ivr_rest"
_ivr_rest="$(_ivr_strip "${LD_LIBRARY_PATH:-}")"
export LD_LIBRARY_PATH="$_ivr_tools/lib${_ivr_rest:+:$_ivr_rest}"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export FASTDDS_DEFAULT_PROFILES_FILE="$_ivr_root/scripts/fastdds_shm_profile.xml"
# Jazzy's Fast DDS (2.14) reads the profile from the variable's older name only.
if [ "$_ivr_venv" = "$_ivr_root/.venv-jazzy" ]; then
  export FASTRTPS_DEFAULT_PROFILES_FILE="$FASTDDS_DEFAULT_PROFILES_FILE"
fi
unset _ivr_root _ivr_venv _ivr_other _ivr_tools _ivr_ws _ivr_sp _ivr_rest
unset -f _ivr_strip
