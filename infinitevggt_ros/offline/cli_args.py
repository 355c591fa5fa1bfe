# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Argparse value types shared by the offline command lines (one copy of each rule).

A bad value raises ``argparse.ArgumentTypeError``, so the command exits 2 with the reason
before it writes anything.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def float_at_least(minimum: float, inclusive: bool = True) -> Callable[[str], float]:
    """argparse type: a finite number >= ``minimum`` (> with ``inclusive`` False)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value) and (value >= minimum if inclusive else value > minimum)
        if not ok:
            bound = f">= {minimum}" if inclusive else f"> {minimum}"
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
        return value

    return parse


#: A finite number > 0.
positive_float = float_at_least(0.0, inclusive=False)
#: A finite number >= 0.
non_negative_float = float_at_least(0.0)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse whose errors are one line with exit status 2, as the commands' other errors
    (no usage dump: the line says what is wrong and points at --help)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
