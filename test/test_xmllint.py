# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""package.xml is well-formed format 3 and declares what the code really imports.

ament_xmllint validates against the REP 149 schema, which needs a download; this checks the
parts of that schema colcon, rosdep and bloom rely on, plus agreement with setup.py and the
resource marker, and that every ROS package imported by the code is an exec_depend.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "infinitevggt_ros"
# Python modules provided by ROS packages (rosdep key = module's top-level name).
ROS_MODULE = re.compile(
    r"^(rclpy|launch|launch_ros|launch_testing|tf2_ros|ament_index_python"
    r"|\w+_msgs|\w+_srvs|\w+_interfaces)$"
)


def package_xml() -> ET.Element:
    return ET.parse(REPO_ROOT / "package.xml").getroot()


def test_package_xml_is_format_3_with_required_fields() -> None:
    root = package_xml()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == PACKAGE
    assert re.fullmatch(r"\d+\.\d+\.\d+", root.findtext("version", ""))
    assert root.findtext("description", "").strip()
    maintainers = root.findall("maintainer")
    assert maintainers and all(m.get("email") and m.text.strip() for m in maintainers)
    assert [element.text for element in root.findall("license")] == ["Apache-2.0"]
    assert root.findtext("export/build_type") == "ament_python"
    allowed = {
        "name",
        "version",
        "description",
        "maintainer",
        "license",
        "url",
        "author",
        "buildtool_depend",
        "build_depend",
        "build_export_depend",
        "depend",
        "exec_depend",
        "test_depend",
        "doc_depend",
        "conflict",
        "replace",
        "group_depend",
        "member_of_group",
        "export",
    }
    unknown = {element.tag for element in root} - allowed
    assert not unknown, f"elements not in package format 3: {unknown}"


def test_package_xml_agrees_with_setup_py_and_resource_marker() -> None:
    root = package_xml()
    setup_text = (REPO_ROOT / "setup.py").read_text()
    assert f'PACKAGE_NAME = "{PACKAGE}"' in setup_text
    assert re.search(rf'version="{re.escape(root.findtext("version"))}"', setup_text)
    assert (REPO_ROOT / "resource" / PACKAGE).is_file()
    assert root.find("buildtool_depend").text == "ament_python"


def imported_top_level_modules(directory: Path) -> set[str]:
    """Top-level names of every absolute import in the Python files under ``directory``."""
    modules = set()
    for path in directory.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def test_every_imported_ros_package_is_an_exec_depend() -> None:
    exec_depends = {element.text for element in package_xml().iter("exec_depend")}
    exec_depends |= {element.text for element in package_xml().iter("depend")}
    code_dirs = [REPO_ROOT / PACKAGE, REPO_ROOT / "launch"]
    used = set().union(*(imported_top_level_modules(d) for d in code_dirs if d.is_dir()))
    ros_used = {name for name in used if ROS_MODULE.match(name)}
    missing = ros_used - exec_depends
    assert not missing, f"imported but not declared as exec_depend in package.xml: {missing}"
