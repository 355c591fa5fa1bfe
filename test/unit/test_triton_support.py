# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""KernelSwitch: Triton present, the environment switch, and disabling after a failure."""

from __future__ import annotations

import pytest

from infinitevggt_ros import triton_support


def test_switch_follows_triton_the_environment_and_failures(monkeypatch, caplog):
    switch = triton_support.KernelSwitch("test", "INFINITEVGGT_TEST_KERNELS")
    monkeypatch.setattr(triton_support, "triton", object())
    assert switch.enabled()
    monkeypatch.setenv("INFINITEVGGT_TEST_KERNELS", " Torch ")
    assert not switch.enabled()
    monkeypatch.setenv("INFINITEVGGT_TEST_KERNELS", "auto")
    with caplog.at_level("WARNING"):
        switch.disable(ValueError("bad launch"))
    assert not switch.enabled() and isinstance(switch.failure, ValueError)
    assert "Triton test kernels failed (ValueError: bad launch)" in caplog.text
    monkeypatch.setattr(triton_support, "triton", None)
    assert not triton_support.KernelSwitch("other", "X").enabled()


@pytest.mark.parametrize("family", ["eviction", "attention"])
def test_each_kernel_family_has_its_switch(family):
    from infinitevggt_ros import attention_kernels, eviction_kernels

    module = {"eviction": eviction_kernels, "attention": attention_kernels}[family]
    assert module.SWITCH.family == family
    assert module.SWITCH.environment_variable == f"INFINITEVGGT_{family.upper()}"
