# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Agreement and speed of the Triton split-key attention (``infinitevggt_ros/
attention_kernels.py``) against PyTorch's flash kernel, at a streaming frame's shape.

    python3 benchmarks/attention_kernel.py --output $OUT/attention_kernel.json   # CUDA only

Agreement: largest difference to one unsplit PyTorch flash call, for key lengths from one
frame to a full memory, keys read as strided views of a larger buffer (as the KV memory
hands them over). Speed: ms per call of the PyTorch path (``INFINITEVGGT_ATTENTION=torch``:
flash with the keys split in one launch) and of the kernel over a grid of launch shapes and
key parts; the fastest is printed first. Then the whole call (kernel and merge) at the
module's defaults, PyTorch's merge against the merge kernel, and with ``--compare-module``
another version of the module (a previous commit's: ``git show REV:infinitevggt_ros/
attention_kernels.py > old.py``) timed in the same process. ``poly_exp`` times the defaults
with every N-th full key block's weights from the FMA polynomial (``POLY_EXP_EVERY``;
``--poly-only`` runs only this and the agreement), with its largest difference to the
exp2-only kernel.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from attention_backends import device_ms  # benchmarks/: the same CUDA-event timing
from torch.nn.attention import SDPBackend, sdpa_kernel

from infinitevggt_ros import attention_kernels
from infinitevggt_ros.model.attention import attend, merge_partial_attention

HEADS, DIM = 16, 64


def qkv(queries: int, keys: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q [1, heads, Nq, D]; k, v: views of the first ``keys`` slots of longer buffers."""
    g = torch.Generator(device="cuda").manual_seed(seed)

    def rand(n: int) -> torch.Tensor:
        return torch.randn(1, HEADS, n, DIM, device="cuda", generator=g, dtype=torch.bfloat16)

    return rand(queries), rand(keys + 512)[:, :, :keys], rand(keys + 512)[:, :, :keys]


def agreement(queries: int) -> dict[str, float]:
    result = {}
    for keys in (1041, 4096, 5000, 20_000, 50_000, 50_003):
        q, k, v = qkv(queries, keys, seed=keys)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            reference = F.scaled_dot_product_attention(q, k.contiguous(), v.contiguous())
        result[str(keys)] = float((attend(q, k, v) - reference).abs().max())
    return result


def sweep(queries: int, keys: int, repeats: int) -> list[dict]:
    q, k, v = qkv(queries, keys, seed=0)
    rows = []
    os.environ[attention_kernels.ENV_SWITCH] = "torch"
    rows.append(
        {"kernel": "pytorch flash, split", "ms": device_ms(lambda: attend(q, k, v), repeats)}
    )
    os.environ.pop(attention_kernels.ENV_SWITCH)
    flops = 4 * HEADS * queries * keys * DIM
    grid = itertools.product((64, 128), (64, 128), (4, 8), (2, 3, 4), (2, 4, 8, 12, 16))
    for block_m, block_n, warps, stages, parts in grid:
        attention_kernels.BLOCK_M, attention_kernels.BLOCK_N = block_m, block_n
        attention_kernels.NUM_WARPS, attention_kernels.NUM_STAGES = warps, stages

        def call(parts: int = parts) -> None:
            attention_kernels.split_key_attention_parts(q, k, v, parts)

        try:
            ms = device_ms(call, repeats)
        except Exception as error:  # a launch shape that does not fit (shared memory)
            print(f"skipped {block_m, block_n, warps, stages}: {type(error).__name__}")
            continue
        rows.append({"kernel": "triton", "block_m": block_m, "block_n": block_n, "warps": warps,
                     "stages": stages, "parts": parts, "ms": ms})  # fmt: skip
    for row in rows:
        row["tflops"] = flops / row["ms"] / 1e9
    return sorted(rows, key=lambda r: r["ms"])


def poly_exp(queries: int, keys: int, repeats: int) -> list[dict]:
    """The defaults with ``poly_every`` N (0: exp2 only), fastest first."""
    q, k, v = qkv(queries, keys, seed=0)
    parts = attention_kernels.key_parts(keys)
    flops = 4 * HEADS * queries * keys * DIM

    def merged(poly_every: int) -> torch.Tensor:
        return merge_partial_attention(
            *attention_kernels.split_key_attention_parts(q, k, v, parts, poly_every=poly_every)
        )

    plain = merged(0)
    rows = []
    for poly_every in (0, 1, 2, 3, 4, 6, 8):
        ms = device_ms(
            lambda n=poly_every: attention_kernels.split_key_attention_parts(
                q, k, v, parts, poly_every=n
            ),
            repeats,
        )
        difference = float((merged(poly_every) - plain).abs().max())
        row = {"poly_every": poly_every, "parts": parts, "ms": ms, "tflops": flops / ms / 1e9}
        rows.append({**row, "max_abs_difference_to_exp2": difference})
    return sorted(rows, key=lambda r: r["ms"])


def load_module(path: Path):
    """Another version of attention_kernels.py, importable beside this one."""
    spec = importlib.util.spec_from_file_location("infinitevggt_ros._compared_kernels", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def whole_calls(queries: int, keys: int, repeats: int, compared: Path | None) -> list[dict]:
    """ms of one attention call at the defaults: kernel + merge kernel, kernel + PyTorch's
    merge, the merges alone, and the compared module's kernel + PyTorch's merge."""
    q, k, v = qkv(queries, keys, seed=0)
    parts = attention_kernels.key_parts(keys)
    outputs, lse = attention_kernels.split_key_attention_parts(q, k, v, parts)
    calls = {
        "kernel + merge kernel": lambda: attention_kernels.split_key_attention(q, k, v, parts),
        "kernel + pytorch merge": lambda: merge_partial_attention(
            *attention_kernels.split_key_attention_parts(q, k, v, parts)
        ).to(q.dtype),
        "merge kernel alone": lambda: attention_kernels.merge_parts(outputs, lse, q.dtype),
        "pytorch merge alone": lambda: merge_partial_attention(outputs, lse).to(q.dtype),
    }
    if compared is not None:
        old = load_module(compared)
        calls[f"{compared.name}: kernel + pytorch merge"] = lambda: merge_partial_attention(
            *old.split_key_attention_parts(q, k, v, old.key_parts(keys))
        ).to(q.dtype)
        difference = attention_kernels.split_key_attention(q, k, v, parts) - calls[
            f"{compared.name}: kernel + pytorch merge"
        ]().unsqueeze(0)
        print(f"largest difference to {compared.name}: {float(difference.abs().max()):.3g}")
    return [{"call": name, "parts": parts, "ms": device_ms(call, repeats)}
            for name, call in calls.items()]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=1041)
    parser.add_argument("--keys", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--compare-module", type=Path, help="another attention_kernels.py")
    parser.add_argument("--no-sweep", action="store_true", help="the defaults only")
    parser.add_argument(
        "--poly-only", action="store_true", help="the agreement and the poly_exp rows only"
    )
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() or attention_kernels.triton is None:
        print("attention_kernel: needs CUDA and Triton", file=sys.stderr)
        return 1
    defaults = {
        n: getattr(attention_kernels, n) for n in ("BLOCK_M", "BLOCK_N", "NUM_WARPS", "NUM_STAGES")
    }
    result = {"machine": torch.cuda.get_device_name(), "torch": torch.__version__,
              "queries": args.queries, "keys": args.keys, "heads": HEADS, "dim": DIM,
              "defaults": defaults,
              "max_abs_difference_to_flash": agreement(args.queries)}  # fmt: skip
    result["poly_exp"] = poly_exp(args.queries, args.keys, args.repeats)
    for row in result["poly_exp"]:
        print(row)
    if args.poly_only:
        args.no_sweep = True
        result["whole_calls"] = []
    else:
        result["whole_calls"] = whole_calls(
            args.queries, args.keys, args.repeats, args.compare_module
        )
    result["sweep"] = [] if args.no_sweep else sweep(args.queries, args.keys, args.repeats)
    print(json.dumps({k: v for k, v in result.items() if k != "sweep"}, indent=1))
    for row in result["sweep"][:12]:
        print(row)
    print([r for r in result["sweep"] if r["kernel"] != "triton"])
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
