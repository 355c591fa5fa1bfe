# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Smoke test: the colcon-built package is found through ament_index, share files included.

`make test` builds the package with colcon into .build/ws (scripts/colcon_build.sh) and puts
that install first on AMENT_PREFIX_PATH, as sourcing a workspace would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "infinitevggt_ros"


def source_share_files() -> list[Path]:
    """Files setup.py installs under share/: package.xml, launch/ and config/ files."""
    files = [Path("package.xml")]
    for pattern in ("launch/*.launch.py", "config/*.yaml", "config/*.rviz"):
        files += sorted(path.relative_to(REPO_ROOT) for path in REPO_ROOT.glob(pattern))
    return files


def test_share_directory_holds_the_source_launch_and_config_files() -> None:
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    share = Path(get_package_share_directory(PACKAGE))
    assert share.is_dir()
    assert share.resolve() != REPO_ROOT, "share/ must be an install tree, not the source"
    assert Path(get_package_prefix(PACKAGE)) / "share" / PACKAGE == share
    # The files README and users rely on: `ros2 launch infinitevggt_ros stream.launch.py`.
    assert (share / "launch" / "stream.launch.py").is_file()
    assert (share / "config" / "stream.yaml").is_file()
    for relative in source_share_files():
        installed = share / relative
        assert installed.is_file(), f"{relative} is not installed under {share}"
        assert installed.read_bytes() == (REPO_ROOT / relative).read_bytes(), (
            f"{installed} differs from the source: rebuild with `make build`"
        )


def test_console_entry_points_are_installed_where_ros2_run_looks() -> None:
    from ament_index_python.packages import get_package_prefix

    executables = Path(get_package_prefix(PACKAGE)) / "lib" / PACKAGE
    for name in (
        "stream_node",
        "infinitevggt-replay",
        "infinitevggt-eval",
        "infinitevggt-bench",
    ):
        path = executables / name
        assert path.is_file() and os.access(path, os.X_OK), f"{path} missing or not executable"


def test_package_index_lists_the_package_and_the_standin_tf2_msgs() -> None:
    from ament_index_python.packages import get_packages_with_prefixes

    packages = get_packages_with_prefixes()
    assert PACKAGE in packages
    # The stand-in tf2_msgs lives in .build/, never inside the package's own install.
    assert "tf2_msgs" in packages
    assert packages["tf2_msgs"] != packages[PACKAGE]
    assert (REPO_ROOT / ".build") in Path(packages["tf2_msgs"]).parents


def test_unknown_package_is_reported_by_name() -> None:
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    with pytest.raises(PackageNotFoundError, match="no_such_package_xyz"):
        get_package_share_directory("no_such_package_xyz")
