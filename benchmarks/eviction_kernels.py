# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Agreement and speed of the Triton eviction (``infinitevggt_ros/eviction_kernels.py``)
against the PyTorch path of ``memory.KVCacheLayer``, at the release model's layer shape.

    python3 benchmarks/eviction_kernels.py --output $OUT/eviction_kernels.json   # CUDA only

Agreement: the diversity scores (float32 kernels vs the bf16 matrix products of the PyTorch
path), the evicted sets that ``torch.topk`` picks from each, and, for the same evicted set,
exactly the same kept tokens with their keys, values and inverse norms intact (tokens are
tagged by id); ``select_highest`` against ``torch.topk`` on the same scores (the same set,
ascending). Speed: one layer's append + eviction, CUDA events, both paths; each part of the
Triton path alone (the scores at 1-8 blocks per program, the selection at several part sizes
against ``torch.topk``, the moves); and the host's microseconds per call of the
selection and of ``torch.topk``, launched back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from attention_backends import device_ms  # benchmarks/: the same CUDA-event timing
from host_time import host_us  # benchmarks/: the same host timing

from infinitevggt_ros import eviction_kernels, memory


def random_cache(heads: int, tokens: int, dim: int, dtype: torch.dtype, seed: int) -> tuple:
    """Keys, values [1, heads, tokens, dim] on CUDA and their float32 inverse norms."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    keys = torch.randn(1, heads, tokens, dim, device="cuda", generator=g).to(dtype)
    keys += 0.3 * torch.randn(1, heads, 1, dim, device="cuda", generator=g).to(dtype)
    values = torch.randn(1, heads, tokens, dim, device="cuda", generator=g).to(dtype)
    return keys, values, memory.inverse_key_norms(keys)


def check_scores(keys: torch.Tensor, inv: torch.Tensor, anchor: int, evict: int) -> dict:
    reference = memory.diversity_scores(keys[:, :, anchor:], inv[:, :, anchor:])
    fused, mean = eviction_kernels.diversity_scores(keys, inv, anchor, keys.shape[2])
    top_ref = torch.topk(reference, evict, dim=-1).indices.sort(dim=-1).values
    top_fused = torch.topk(fused, evict, dim=-1).indices.sort(dim=-1).values
    same = sum(
        len(set(a.tolist()) & set(b.tolist()))
        for a, b in zip(top_ref[0], top_fused[0], strict=True)
    )
    return {
        "scores_max_abs_diff": float((reference - fused).abs().max()),
        "scores_spread": float(reference.max() - reference.min()),
        "mean_score_abs_diff": float((reference.mean() - mean).abs()),
        "evicted_set_overlap": same / top_ref.numel(),
    }


def valid_highest(scores: torch.Tensor, selected: torch.Tensor, count: int) -> bool:
    """``selected`` [1, heads, count] is a set of the ``count`` highest scores per head,
    ascending, with no index twice (whatever the ties)."""
    for head in range(scores.shape[1]):
        chosen = selected[0, head].long()
        if chosen.min() < 0 or chosen.max() >= scores.shape[2]:
            return False
        mask = torch.zeros(scores.shape[2], dtype=torch.bool, device=scores.device)
        mask[chosen] = True
        row = scores[0, head]
        if int(mask.sum()) != count or not torch.equal(chosen, chosen.sort().values):
            return False
        if (~mask).any() and row[~mask].max() > row[mask].min():
            return False
    return True


def check_selection(keys: torch.Tensor, inv: torch.Tensor, anchor: int, evict: int) -> dict:
    """``select_highest`` on the Triton scores: ``torch.topk``'s indices, sorted; on scores
    with many exact ties (rounded, as the engine's repeated special tokens give), a valid
    set of the highest; for both digit layouts."""
    scores, _ = eviction_kernels.diversity_scores(keys, inv, anchor, keys.shape[2])
    expected = torch.topk(scores, evict, dim=-1).indices.sort(dim=-1).values
    tied = (scores * 64).round() / 64
    result: dict = {"distinct_scores": bool(scores.unique().numel() == scores.numel())}
    for name, digits in (("11_bit", eviction_kernels.SELECT_DIGITS_11),
                         ("8_bit", eviction_kernels.SELECT_DIGITS_8)):  # fmt: skip
        selected = eviction_kernels.select_highest(scores, evict, digits=digits).long()
        result[f"same_as_topk_{name}"] = bool(torch.equal(selected, expected))
        result[f"heads_differing_{name}"] = int((selected != expected).any(dim=-1).sum())
        for count in (1, evict, 20_000):
            chosen = eviction_kernels.select_highest(tied, count, digits=digits)
            result[f"valid_with_ties_{name}_{count}"] = valid_highest(tied, chosen, count)
        result[f"random_cases_wrong_{name}"] = random_cases_wrong(evict, digits)
    return result


def random_cases_wrong(count: int, digits: tuple, cases: int = 40) -> int:
    """Of ``cases`` random normal score sets (16 heads, 2,001-130,000 scores each), how many
    the selection gets wrong against ``torch.topk``'s sorted indices."""
    generator = torch.Generator(device="cuda").manual_seed(5)
    wrong = 0
    for case in range(cases):
        n = (51_041, 50_000, 2_001, 130_000)[case % 4]
        scores = torch.randn(1, 16, n, device="cuda", generator=generator)
        selected = eviction_kernels.select_highest(scores, count, digits=digits).long()
        expected = torch.topk(scores, count, dim=-1).indices.sort(dim=-1).values
        wrong += not torch.equal(selected, expected)
    return wrong


def check_moves(heads: int, budget: int, evict: int, anchor: int, dim: int) -> dict:
    """The kernel's moves keep exactly the tokens not evicted, rows intact."""
    tokens = budget + evict
    keys, values, inv = random_cache(heads, tokens, dim, torch.bfloat16, seed=1)
    ids = torch.arange(tokens, device="cuda", dtype=torch.float32).view(1, 1, tokens, 1)
    ids = ids.expand(1, heads, tokens, 1)
    tagged_keys = torch.cat([ids, keys.float()], dim=-1)[..., :dim].contiguous()  # id in col 0
    original_keys, original_values, original_inv = tagged_keys.clone(), values.clone(), inv.clone()
    scores = memory.diversity_scores(keys[:, :, anchor:], inv[:, :, anchor:])
    evicted = torch.topk(scores, evict, dim=-1, sorted=False).indices
    eviction_kernels.move_kept_into_evicted(tagged_keys, values, inv, evicted, anchor, budget)
    mismatched_sets = rows_changed = 0
    for h in range(heads):
        kept_ids = tagged_keys[0, h, :budget, 0].long()
        expected = set(range(tokens)) - set((evicted[0, h] + anchor).tolist())
        mismatched_sets += int(set(kept_ids.tolist()) != expected)
        rows_changed += int(
            (tagged_keys[0, h, :budget] != original_keys[0, h, kept_ids]).any()
            or (values[0, h, :budget] != original_values[0, h, kept_ids]).any()
            or (inv[0, h, :budget] != original_inv[0, h, kept_ids]).any()
        )
    return {"heads_with_wrong_kept_set": mismatched_sets, "heads_with_changed_rows": rows_changed}


def time_layer(backend: str, heads: int, budget: int, evict: int, dim: int, repeats: int) -> float:
    """ms of one layer's update (append + eviction) with a full cache."""
    os.environ[eviction_kernels.ENV_SWITCH] = backend
    layer = memory.KVCacheLayer("timed")
    keys, values, _ = random_cache(heads, budget, dim, torch.bfloat16, seed=2)
    layer.update(keys, values)
    layer.anchor, layer.budget = evict, budget
    incoming = random_cache(heads, evict, dim, torch.bfloat16, seed=3)[:2]
    for _ in range(3):
        layer.update(*incoming)
    ms = device_ms(lambda: layer.update(*incoming), repeats)
    os.environ.pop(eviction_kernels.ENV_SWITCH, None)
    return ms


def time_parts(heads: int, budget: int, evict: int, dim: int, repeats: int) -> dict:
    """ms of each part of the Triton eviction of one full layer: the scores (at several
    blocks per program), ``torch.topk``, and the moves (repeated on one evicted set)."""
    tokens = budget + evict
    keys, values, inv = random_cache(heads, tokens, dim, torch.bfloat16, seed=4)
    parts = {
        f"scores_{blocks}_blocks": device_ms(
            lambda blocks=blocks: eviction_kernels.diversity_scores(
                keys, inv, evict, tokens, blocks
            ),
            repeats,
        )
        for blocks in (1, 2, 4, 8)
    }
    scores, _ = eviction_kernels.diversity_scores(keys, inv, evict, tokens)
    parts["topk"] = device_ms(
        lambda: torch.topk(scores, evict, dim=-1, largest=True, sorted=False), repeats
    )
    for name, digits in (("11_bit", eviction_kernels.SELECT_DIGITS_11),
                         ("8_bit", eviction_kernels.SELECT_DIGITS_8)):  # fmt: skip
        for part in (1024, 2048, 4096):
            parts[f"select_{name}_parts_of_{part}"] = device_ms(
                lambda part=part, digits=digits: eviction_kernels.select_highest(
                    scores, evict, part, digits
                ),
                repeats,
            )
    evicted = torch.topk(scores, evict, dim=-1, largest=True, sorted=False).indices
    parts["host_us_topk"] = host_us(
        lambda: torch.topk(scores, evict, dim=-1, largest=True, sorted=False), repeats
    )
    parts["host_us_select"] = host_us(
        lambda: eviction_kernels.select_highest(scores, evict), repeats
    )
    parts["moves"] = device_ms(
        lambda: eviction_kernels.move_kept_into_evicted(keys, values, inv, evicted, evict, budget),
        repeats,
    )
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--budget", type=int, default=50_000, help="tokens kept per layer")
    parser.add_argument("--evict", type=int, default=1041, help="tokens of one frame")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() or eviction_kernels.triton is None:
        print("eviction_kernels: needs CUDA and Triton", file=sys.stderr)
        return 1
    keys, _, inv = random_cache(args.heads, args.budget + args.evict, args.dim, torch.bfloat16, 0)
    result = {
        "machine": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "shape": vars(args) | {"output": None},
        "scores": check_scores(keys, inv, args.evict, args.evict),
        "selection": check_selection(keys, inv, args.evict, args.evict),
        "moves": check_moves(args.heads, args.budget, args.evict, args.evict, args.dim),
        "layer_update_ms": {
            backend: time_layer(
                backend, args.heads, args.budget, args.evict, args.dim, args.repeats
            )
            for backend in ("torch", "auto")
        },
        "triton_parts_ms": time_parts(args.heads, args.budget, args.evict, args.dim, args.repeats),
    }
    print(json.dumps(result, indent=1))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n")
    ok = result["moves"] == {"heads_with_wrong_kept_set": 0, "heads_with_changed_rows": 0}
    selection = result["selection"]
    ok = ok and all(v for k, v in selection.items() if k.startswith(("same", "valid")))
    ok = ok and not any(v for k, v in selection.items() if k.startswith("random_cases_wrong"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
