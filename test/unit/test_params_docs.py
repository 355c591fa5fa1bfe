# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""README.md holds the parameter table generated from the declarations."""

from __future__ import annotations

from pathlib import Path

from infinitevggt_ros.ros.params import render_markdown_table

DOC = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- parameters:begin (generated: python -m infinitevggt_ros.ros.params --markdown) -->"
END = "<!-- parameters:end -->"


def test_docs_parameter_table_is_generated_from_declarations():
    text = DOC.read_text()
    assert BEGIN in text and END in text
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert table == render_markdown_table(), (
        "README.md parameter table is stale: regenerate it with "
        "python -m infinitevggt_ros.ros.params --markdown"
    )
