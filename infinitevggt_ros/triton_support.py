# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Whether this package's Triton kernels may run (``eviction_kernels``, ``attention_kernels``).

Triton ships with PyTorch's CUDA wheels; CPU builds and some Jetson builds lack it, and an
install can be broken (import errors other than ImportError) or unable to compile a kernel
for an older GPU. A ``KernelSwitch`` says whether one family of kernels runs: Triton
imported, its environment variable not set to ``torch``, and no earlier failure. The first
failure disables the family for the process with one warning; callers then take their
PyTorch path, the fallback and reference every kernel is tested against.
"""

from __future__ import annotations

import logging
import os

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
