# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Whether this package's Triton kernels may run (``eviction_kernels``, ``attention_kernels``).

Triton ships with PyTorch's CUDA wheels; CPU builds and some Jetson builds lack it, and an
install can be broken (import errors other than ImportError) or unable to compile a kernel
for an older GPU. A ``KernelSwitch`` says whether one family of kernels runs: Triton
imported, its environment variable not set to ``torch``, and no earlier failure. The first
failure disables the family for the process with one warning; callers then take their
PyTorch path, the fallback and reference every kernel is tested against.

``CachedLaunch`` launches a kernel through its compiled kernel once Triton has compiled it,
which takes a fraction of the host time of Triton's own launch path.
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from typing import Any

import torch

logger = logging.getLogger(__name__)

try:
    import triton
    import triton.language as tl
except Exception:  # pragma: no cover - depends on the install (absent, or broken)
    triton = None
    tl = None


class KernelSwitch:
    """On/off state of one family of kernels.

    Args:
        family: what the kernels do, for the warning ("eviction", "attention").
        environment_variable: set to ``torch`` to keep the PyTorch path (A/B runs).
    """

    def __init__(self, family: str, environment_variable: str) -> None:
        self.family = family
        self.environment_variable = environment_variable
        self.failure: BaseException | None = None

    def enabled(self) -> bool:
        if triton is None or self.failure is not None:
            return False
        return os.environ.get(self.environment_variable, "auto").strip().lower() != "torch"

    def disable(self, error: BaseException) -> None:
        """After a kernel failed: the PyTorch path from now on, said once."""
        self.failure = error
        logger.warning(
            "the Triton %s kernels failed (%s: %s); using the PyTorch path from now on",
            self.family,
            type(error).__name__,
            error,
        )


_INT32_MIN, _INT32_MAX, _UINT64_MIN = -(2**31), 2**31 - 1, 2**63


def _specialisation(is_constexpr: bool, arg: Any) -> Any:
    """What Triton compiles one argument for: a constexpr's value; a tensor's dtype and
    16-byte alignment; an integer's equality to 1, divisibility by 16 and width. At least
    as fine as Triton's own key (a finer one only looks the same compiled kernel up again)."""
    if is_constexpr:
        return arg
    kind = type(arg)
    if kind is int:
        return (int, arg == 1, arg % 16 == 0, _INT32_MIN <= arg <= _INT32_MAX, arg >= _UINT64_MIN)
    if kind is float:
        return float  # Triton does not specialise on a float's value
    if isinstance(arg, torch.Tensor):
        return (arg.dtype, arg.data_ptr() % 16 == 0)
    return (kind, arg)


def _launch_hooks_set() -> bool:
    """Whether a tool (a profiler such as Proton) hooks Triton's launches, or this Triton
    has no ``knobs`` (older than 3.4): then every launch takes Triton's own path."""
    knobs = getattr(triton, "knobs", None)
    if knobs is None:
        return True
    for hook in (knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook):
        if hook is not None and getattr(hook, "calls", True):
            return True
    return False


# Every CachedLaunch, so that their compiled kernels are dropped at exit while CUDA and
# Triton are intact, not in the interpreter's final garbage collection.
_LAUNCHERS: weakref.WeakSet[CachedLaunch] = weakref.WeakSet()


@atexit.register
def _forget_compiled_kernels() -> None:
    for launcher in list(_LAUNCHERS):
        launcher.forget()


class CachedLaunch:
    """One Triton kernel, launched through its compiled kernel once that exists.

    Triton's launch (``kernel[grid](...)``) binds and specialises every argument and
    builds its cache key in Python on each call, 34-53 us of host time per launch on the
    H200 machine (``benchmarks/host_time.py``), and the engine's eager part launches about
    160 of these per frame: host time that the overlapped pipeline's other stages share.
    Here the first launch of
    a specialisation goes through Triton (compiling if needed) and its compiled kernel is
    kept; later launches of the same specialisation (``_specialisation``, the launch
    options, the current device) call the compiled kernel's launcher directly: the same
    kernel binary on the same arguments. Anything else (Triton's interpreter, launch
    hooks, keyword constexprs, a Triton without these internals) takes Triton's path.

    Args:
        kernel: a ``triton.jit`` function (or, under ``TRITON_INTERPRET=1``, its
            interpreted stand-in).
    """

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        params = getattr(kernel, "params", None)
        self._constexpr = () if params is None else tuple(bool(p.is_constexpr) for p in params)
        # False: every launch through Triton (no parameter list to match arguments to, or
        # a launcher that refused a direct call); benchmarks switch it for A/B runs.
        self.direct = params is not None
        self._compiled: dict[tuple[Any, ...], Any] = {}
        self.direct_launches = 0  # for tests and benchmarks
        _LAUNCHERS.add(self)

    def forget(self) -> None:
        """Drop the kept compiled kernels (the next launch goes through Triton again)."""
        self._compiled.clear()

    def __call__(self, grid: tuple[int, ...], *args: Any, **options: Any) -> None:
        """Launch on ``grid`` with every argument of the kernel in order, constexprs
        included, and Triton's launch options (``num_warps``, ``num_stages``) by name."""
        constexpr = self._constexpr
        if not self.direct or len(args) != len(constexpr) or _launch_hooks_set():
            self.kernel[grid](*args, **options)
            return
        active = triton.runtime.driver.active
        device = active.get_current_device()
        key = (device, tuple(options.items()), *map(_specialisation, constexpr, args))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self.kernel[grid](*args, **options)
            if hasattr(compiled, "result"):  # Triton's asynchronous compilation
                compiled = compiled.result()
            if getattr(compiled, "function", None) is not None and hasattr(compiled, "run"):
                self._compiled[key] = compiled
            return
        blocks = (*grid, 1, 1)
        try:
            compiled.run(
                blocks[0], blocks[1], blocks[2], active.get_current_stream(device),
                compiled.function, compiled.packed_metadata, None, None, None, *args,
            )  # fmt: skip
        except (TypeError, AttributeError) as error:
            # Another Triton's launcher convention: its argument parsing fails before
            # anything runs. Triton's own path from now on, said once per kernel.
            logger.warning("direct Triton launches unavailable (%s); using Triton's", error)
            self.direct = False
            self.kernel[grid](*args, **options)
            return
        self.direct_launches += 1
