# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""KernelSwitch: Triton present, the environment switch, and disabling after a failure.
CachedLaunch: when it launches a compiled kernel directly and when through Triton."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

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


class FakeCompiledKernel:
    """Test double of Triton's CompiledKernel: records launches through its launcher."""

    function = "cu-function"
    packed_metadata = "packed-metadata"

    def __init__(self, log: list) -> None:
        self.log = log

    def run(self, *launch):
        self.log.append(("direct", launch))


class FakeJitKernel:
    """Test double of a ``triton.jit`` function: a ``params`` list and ``kernel[grid](...)``,
    which records the call and returns one compiled kernel per specialisation."""

    def __init__(self, constexpr_flags, returns_future=False):
        self.params = [SimpleNamespace(is_constexpr=flag) for flag in constexpr_flags]
        self.log: list = []
        self.returns_future = returns_future

    def __getitem__(self, grid):
        def launch(*args, **options):
            self.log.append(("jit", grid, args, options))
            compiled = FakeCompiledKernel(self.log)
            return SimpleNamespace(result=lambda: compiled) if self.returns_future else compiled

        return launch


def fake_triton(enter_hooks=(), knobs=True):
    driver = SimpleNamespace(get_current_device=lambda: 0, get_current_stream=lambda d: 77)
    runtime = SimpleNamespace(driver=SimpleNamespace(active=driver))
    hooks = SimpleNamespace(
        launch_enter_hook=SimpleNamespace(calls=list(enter_hooks)), launch_exit_hook=None
    )
    return SimpleNamespace(
        runtime=runtime, knobs=SimpleNamespace(runtime=hooks) if knobs else None
    )


def kinds(log):
    return [entry[0] for entry in log]


@pytest.fixture
def kernel(monkeypatch):
    monkeypatch.setattr(triton_support, "triton", fake_triton())
    return FakeJitKernel([False, False, False, True])  # (tensor, int, float, constexpr)


def test_cached_launch_reuses_the_compiled_kernel_of_a_specialisation(kernel):
    launch = triton_support.CachedLaunch(kernel)
    buffer = torch.zeros(64)
    launch((4, 2), buffer, 17, 0.5, 64, num_warps=4)
    launch((4, 2), buffer, 33, 0.25, 64, num_warps=4)  # 17 -> 33: same specialisation
    assert kinds(kernel.log) == ["jit", "direct"]
    assert kernel.log[1][1] == (
        4, 2, 1, 77, "cu-function", "packed-metadata", None, None, None, buffer, 33, 0.25, 64,
    )  # fmt: skip
    assert launch.direct_launches == 1


@pytest.mark.parametrize(
    "changed",
    [
        "misaligned tensor",
        "dtype",
        "integer one",
        "integer divisible by 16",
        "64-bit integer",
        "constexpr",
        "launch option",
    ],
)
def test_cached_launch_compiles_through_triton_for_a_new_specialisation(kernel, changed):
    launch = triton_support.CachedLaunch(kernel)
    buffer = torch.zeros(64)
    base = dict(tensor=buffer, integer=17, constexpr=64, options={"num_warps": 4})
    launch((1,), base["tensor"], base["integer"], 0.5, base["constexpr"], **base["options"])
    variant = dict(base)
    variant.update(
        {
            "misaligned tensor": {"tensor": buffer[1:]},  # 4 bytes past a 16-byte boundary
            "dtype": {"tensor": buffer.double()},
            "integer one": {"integer": 1},
            "integer divisible by 16": {"integer": 32},
            "64-bit integer": {"integer": 2**40 + 1},
            "constexpr": {"constexpr": 128},
            "launch option": {"options": {"num_warps": 8}},
        }[changed]
    )
    for _ in range(2):
        launch((1,), variant["tensor"], variant["integer"], 0.5, variant["constexpr"],
               **variant["options"])  # fmt: skip
    assert kinds(kernel.log) == ["jit", "jit", "direct"]


def test_cached_launch_takes_tritons_path_when_it_cannot_skip_it(monkeypatch, kernel):
    buffer = torch.zeros(8)
    # Constexprs by keyword: the arguments cannot be matched to the parameters.
    launch = triton_support.CachedLaunch(kernel)
    for _ in range(2):
        launch((1,), buffer, 3, 0.5, BLOCK=64)
    # A launch hook (a profiler) must see every launch.
    monkeypatch.setattr(triton_support, "triton", fake_triton(enter_hooks=[print]))
    for _ in range(2):
        launch((1,), buffer, 3, 0.5, 64)
    # A Triton without knobs (older than 3.4).
    monkeypatch.setattr(triton_support, "triton", fake_triton(knobs=False))
    launch((1,), buffer, 3, 0.5, 64)
    # The interpreter's stand-in has no parameter list.
    interpreted = FakeJitKernel([])
    del interpreted.params
    for _ in range(2):
        triton_support.CachedLaunch(interpreted)((1,), buffer)
    assert kinds(kernel.log) == ["jit"] * 5 and kinds(interpreted.log) == ["jit"] * 2


def test_cached_launch_waits_for_an_asynchronous_compilation(monkeypatch):
    monkeypatch.setattr(triton_support, "triton", fake_triton())
    kernel = FakeJitKernel([False], returns_future=True)
    launch = triton_support.CachedLaunch(kernel)
    launch((1,), 5)
    launch((1,), 7)
    assert kinds(kernel.log) == ["jit", "direct"]


def test_cached_launch_falls_back_to_triton_when_the_launcher_refuses(kernel, caplog):
    def refuse(*launch):
        raise TypeError("function takes 12 positional arguments")

    launch = triton_support.CachedLaunch(kernel)
    buffer = torch.zeros(8)
    launch((1,), buffer, 3, 0.5, 64)
    next(iter(launch._compiled.values())).run = refuse
    with caplog.at_level("WARNING"):
        for _ in range(2):
            launch((1,), buffer, 3, 0.5, 64)
    assert kinds(kernel.log) == ["jit"] * 3 and launch.direct_launches == 0
    assert caplog.text.count("direct Triton launches unavailable") == 1


def test_cached_launch_forgets_its_kernels_at_exit(kernel):
    launch = triton_support.CachedLaunch(kernel)
    launch((1,), torch.zeros(8), 3, 0.5, 64)
    assert launch._compiled
    triton_support._forget_compiled_kernels()  # what atexit runs
    assert not launch._compiled
    launch((1,), torch.zeros(8), 3, 0.5, 64)
    assert kinds(kernel.log) == ["jit", "jit"]
