# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Checkpoint loading: read -> filter -> strict match -> dtypes -> finite -> load.

The StreamVGGT release checkpoint (``checkpoints.pth``, about 5 GB) is a plain
``torch.save`` of the state dict. It is read with ``weights_only=True`` (no pickled
code runs) and memory-mapped, so loading does not need twice its size in RAM.
Floating-point weights in another precision (a float16 or float64 export) are cast to
the model's dtype at load; anything that would only fail at the first frame (integer
tensors, NaN/Inf weights) is refused here with a ``CheckpointError``.
"""

from __future__ import annotations

import logging
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

# Tensors of the release checkpoint that a geometry node does not use.
SKIPPED_PREFIXES = ("track_head.",)
_MAX_LISTED = 5


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into the model, with the reason."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.pth``/``.pt`` (torch.save) or ``.safetensors`` file into a state dict.

    Raises:
        CheckpointError: missing, unreadable, truncated or not a state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (or is not a file)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty")
    state: object
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = _load_torch(path)
    except CheckpointError:
        raise
    except Exception as error:  # torch/safetensors raise many types for corrupt files
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(error).__name__}: {error}); "
            "is it truncated or corrupt?"
        ) from error
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]  # training checkpoints wrap the weights
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointError(f"checkpoint {path} does not hold a state dict of tensors")
    return dict(state)


def _load_torch(path: Path) -> object:  # whatever torch.load unpickles
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as error:
        # Files written with the legacy (non-zip) format cannot be memory-mapped.
        if zipfile.is_zipfile(path):
            raise
        logger.info("checkpoint %s is not in zip format (%s); loading without mmap", path, error)
        return torch.load(path, map_location="cpu", weights_only=True)


def filter_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the tensors this package does not use (the tracking head)."""
    kept = {k: v for k, v in state.items() if not k.startswith(SKIPPED_PREFIXES)}
    skipped = len(state) - len(kept)
    if skipped:
        logger.info(
            "skipping %d tensors of unused heads (%s)", skipped, ", ".join(SKIPPED_PREFIXES)
        )
    return kept


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f" (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")


def check_state_dict(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> None:
    """Raise CheckpointError unless names and shapes match the model exactly."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_listed(unexpected)}")
    if mismatched:
        problems.append(
            f"{len(mismatched)} with other shapes (file != model): {_listed(mismatched)}"
        )
    if problems:
        hint = ""
        if len(missing) > len(expected) // 2:
            hint = " It does not look like a StreamVGGT checkpoint for this configuration."
        raise CheckpointError(
            f"{source} does not match the model: " + "; ".join(problems) + "." + hint
        )


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def match_dtypes(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Cast floating-point tensors to the dtypes of the model's (logging one line when
    any is cast); raise CheckpointError for a non-floating tensor where the model holds
    a floating one. ``state`` must already match the model's names
    (``check_state_dict``)."""
    expected = model.state_dict()
    refused = [
        f"{name} ({_dtype_name(state[name].dtype)})"
        for name, want in expected.items()
        if want.is_floating_point() and not state[name].is_floating_point()
    ]
    if refused:
        raise CheckpointError(
            f"{source} has {len(refused)} non-floating-point tensors where the model needs "
            f"floating point: {_listed(refused)}."
        )
    matched = dict(state)
    stored: Counter[str] = Counter()
    targets: set[str] = set()
    for name, want in expected.items():
        have = state[name]
        if have.dtype != want.dtype and have.is_floating_point():
            # load_state_dict would copy into the float32 parameters, but assign=True
            # (the memory-mapped load) keeps the file's tensors: a float16 weight would
            # then meet float32 activations at the first frame.
            matched[name] = have.to(want.dtype)
            stored[_dtype_name(have.dtype)] += 1
            targets.add(_dtype_name(want.dtype))
    if stored:
        logger.info(
            "%s stores %s weights (%d of %d tensors); cast to %s at load",
            source,
            " and ".join(sorted(stored)),
            sum(stored.values()),
            len(expected),
            " and ".join(sorted(targets)),
        )
    return matched


def check_finite(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise CheckpointError naming the first floating-point tensor with NaN or Inf
    values (a corrupt or diverged export would otherwise give NaN geometry)."""
    bad: list[tuple[str, int]] = []
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad.append((name, int((~torch.isfinite(tensor)).sum())))
    if bad:
        name, count = bad[0]
        others = f" ({len(bad) - 1} more tensors have some)" if len(bad) > 1 else ""
        raise CheckpointError(
            f"{source} has non-finite weights: {name} holds {count} NaN/Inf values of "
            f"{state[name].numel()}{others}."
        )


def load_weights(model: nn.Module, path: str | Path, assign: bool = False) -> None:
    """Read, filter and strictly load a checkpoint into ``model``.

    With ``assign=True`` the model's parameters become the (memory-mapped) tensors
    of the file instead of copies: build the model on the meta device for that.
    Floating-point tensors of another dtype are cast to the model's first (no longer
    memory-mapped then). Nothing is loaded unless every check passes.

    Raises:
        CheckpointError: unreadable file, names/shapes that do not match, non-floating
            tensors for floating-point weights, or NaN/Inf weights.
    """
    source = f"checkpoint {path}"
    state = filter_state_dict(read_state_dict(path))
    check_state_dict(model, state, source=source)
    state = match_dtypes(model, state, source=source)
    check_finite(state, source=source)
    model.load_state_dict(state, strict=True, assign=assign)
