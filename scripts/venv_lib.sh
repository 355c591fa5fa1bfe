# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# The setup steps scripts/dev_env.sh (Kilted) and scripts/jazzy_env.sh (Jazzy) share.
# Source it after defining log() and die(); it defines functions only.

# ensure_tools TOOL... -- APT_PACKAGE...: installs the Debian packages when a tool is missing
# (as root with apt-get), else stops with the command to run.
ensure_tools() {
  local tools=() packages=() missing=() seen_separator=0 tool
  for arg in "$@"; do
    if [ "$arg" = "--" ]; then seen_separator=1
    elif [ "$seen_separator" -eq 0 ]; then tools+=("$arg")
    else packages+=("$arg"); fi
  done
  for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing system packages for: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
  else
    die "missing tools: ${missing[*]} (Debian: apt-get install ${packages[*]})"
  fi
}

# ensure_python311_venv VENV: (re)creates VENV unless it holds a working Python 3.11.
ensure_python311_venv() {
  local venv="$1" python="" candidate
  "$venv/bin/python" -c "import sys; assert sys.version_info[:2] == (3, 11)" 2>/dev/null \
    && return 0
  for candidate in "${PYTHON:-}" python3.11 python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c "import sys; assert sys.version_info[:2] == (3, 11)" 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
  [ -n "$python" ] || die "Python 3.11 not found (set PYTHON=/path/to/python3.11)"
  log "creating $(basename "$venv") with $python"
  rm -rf "$venv"
  "$python" -m venv "$venv"
}

# pip_install ARGS...: pip install into $venv. Some machines list local package indexes that
# lack most projects; pip warns once per project about each: drop only those lines.
pip_install() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "^WARNING: Location 'file://.*' is ignored" >&2 || true)
}
