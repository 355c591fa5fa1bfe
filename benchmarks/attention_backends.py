# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Global attention of one frame against a long memory, per SDPA backend and layout.

The rolling memory's key length changes every frame (adaptive budgets), so a backend
that plans per shape (cuDNN) pays that planning on most frames. This measures, for the
release shapes (1,041 queries, 16 heads of 64, ~50,000 keys per layer): device time per
call at a fixed length, host time of a call at a length never seen before, and the
largest difference to the flash backend. Run once as it is and once with
``TORCH_CUDNN_SDPA_AVOID_RECOMPILE=1`` (PyTorch's opt-in to cuDNN's ragged path, which
avoids re-planning for new lengths in the BSHD layout):

    python3 benchmarks/attention_backends.py --output attention.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from infinitevggt_ros.model.attention import split_key_attention

BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
}


def make_inputs(keys: int, queries: int, heads: int, dim: int, layout: str, seed: int):
    """q [1, heads, queries, dim] and k, v [1, heads, keys, dim] as views of either
    BHSD (heads outermost) or BSHD (tokens outermost) storage."""
    generator = torch.Generator(device="cuda").manual_seed(seed)

    def tensor(tokens: int) -> torch.Tensor:
        if layout == "bhsd":
            shape = (1, heads, tokens, dim)
            return torch.randn(shape, device="cuda", generator=generator).bfloat16()
        shape = (1, tokens, heads, dim)
        return torch.randn(shape, device="cuda", generator=generator).bfloat16().transpose(1, 2)

    return tensor(queries), tensor(keys), tensor(keys)


def device_ms(function, repeats: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    function()
    torch.cuda.synchronize()
    start.record()
    for _ in range(repeats):
        function()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / repeats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1_041)
    parser.add_argument("--new-lengths", type=int, default=5, help="unseen key lengths timed")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--split-parts", type=int, nargs="*", default=[2, 4, 6, 8, 11, 16])
    parser.add_argument("--output")
    args = parser.parse_args()
    avoid_recompile = os.environ.get("TORCH_CUDNN_SDPA_AVOID_RECOMPILE", "0")
    rows = []
    for layout in ("bhsd", "bshd"):
        q, k, v = make_inputs(args.keys, args.queries, 16, 64, layout, seed=0)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            reference = F.scaled_dot_product_attention(q, k, v)
        for name, backend in BACKENDS.items():
            row = {"layout": layout, "backend": name, "avoid_recompile": avoid_recompile}
            try:
                with sdpa_kernel(backend):
                    out = F.scaled_dot_product_attention(q, k, v)
                    row["max_abs_difference_to_flash"] = float((out - reference).abs().max())
                    row["device_ms_per_call"] = device_ms(
                        lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v), args.repeats
                    )
                    new_length_ms = []
                    for extra in range(1, args.new_lengths + 1):
                        length = args.keys - 37 * extra
                        k2, v2 = k[:, :, :length], v[:, :, :length]
                        torch.cuda.synchronize()
                        t0 = time.perf_counter()
                        F.scaled_dot_product_attention(q, k2, v2)
                        torch.cuda.synchronize()
                        new_length_ms.append((time.perf_counter() - t0) * 1e3)
                    row["new_length_call_ms"] = new_length_ms
            except RuntimeError as error:
                row["error"] = str(error).splitlines()[0][:200]
            print(json.dumps(row))
            rows.append(row)
        for parts in args.split_parts:
            row = {"layout": layout, "backend": f"flash, keys split in {parts}"}
            out = split_key_attention(q, k, v, parts)
            row["max_abs_difference_to_flash"] = float((out - reference).abs().max())
            row["device_ms_per_call"] = device_ms(
                lambda q=q, k=k, v=v, parts=parts: split_key_attention(q, k, v, parts),
                args.repeats,
            )
            print(json.dumps(row))
            rows.append(row)
    if args.output:
        with open(args.output, "w") as stream:
            json.dump(
                {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows},
                stream,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
