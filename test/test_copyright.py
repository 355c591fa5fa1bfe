# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Every Python file of the repository carries the license header (as ament_copyright checks).

The header is the first two lines, after an optional shebang line:
    # SPDX-License-Identifier: Apache-2.0
    # Copyright <year> The infinitevggt_ros authors
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SPDX_LINE = "# SPDX-License-Identifier: Apache-2.0"
COPYRIGHT_LINE = re.compile(r"# Copyright (\d{4})(-\d{4})? The infinitevggt_ros authors")


def python_files() -> list[Path]:
    """The repository's Python files: tracked or new, not git-ignored (no build outputs)."""
    if not (REPO_ROOT / ".git").exists():  # an exported tree: skip hidden and build folders
        skipped = {"build", "install", "log", "demo_out", "out", "__pycache__"}
        return sorted(
            path
            for path in REPO_ROOT.rglob("*.py")
            if not any(
                part.startswith(".") or part in skipped
                for part in path.relative_to(REPO_ROOT).parts
            )
        )
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return sorted(path for name in listed if (path := REPO_ROOT / name).is_file())


def header_problem(path: Path) -> str | None:
    """Why ``path`` lacks the license header, or None if it has it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    if len(lines) < 2 or lines[0] != SPDX_LINE:
        return f"line 1 must be {SPDX_LINE!r}"
    if not COPYRIGHT_LINE.fullmatch(lines[1]):
        return "line 2 must be '# Copyright <year> The infinitevggt_ros authors'"
    return None


def test_header_check_rejects_files_without_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.py"
    missing.write_text('"""No header."""\n')
    wrong_license = tmp_path / "wrong.py"
    wrong_license.write_text("# SPDX-License-Identifier: MIT\n# Copyright 2026 Someone\n")
    with_shebang = tmp_path / "tool.py"
    with_shebang.write_text(
        "#!/usr/bin/env python3\n"
        + SPDX_LINE
        + "\n# Copyright 2026 The infinitevggt_ros authors\n"
    )
    assert header_problem(missing) is not None
    assert header_problem(wrong_license) is not None
    assert header_problem(with_shebang) is None


def test_every_python_file_has_the_license_header() -> None:
    files = python_files()
    assert REPO_ROOT / "setup.py" in files
    offenders = {
        str(path.relative_to(REPO_ROOT)): problem
        for path in files
        if (problem := header_problem(path)) is not None
    }
    assert not offenders, f"{len(offenders)} file(s) lack the license header:\n" + "\n".join(
        f"  {name}: {problem}" for name, problem in sorted(offenders.items())
    )
