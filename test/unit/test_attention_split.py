# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Split-key attention: parts merged by their log-sum-exps equal attention over all keys.

The CUDA kernel that computes the parts (flash over variable-length sequences) cannot run
here; the merge and the split policy can, and the benchmark records the GPU agreement.
"""

import pytest
import torch

from infinitevggt_ros.model.attention import (
    SPLIT_KEYS_MAX_PARTS,
    SPLIT_KEYS_MIN_PER_PART,
    key_splits,
    merge_partial_attention,
)


def part_attention(q, k, v):
    """Softmax attention over one part of the keys and its log-sum-exp."""
    logits = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    return torch.softmax(logits, dim=-1) @ v, torch.logsumexp(logits, dim=-1)


@pytest.mark.parametrize("ends", [(0, 7, 19, 40), (0, 39, 40), (0, 13, 26, 39, 40)])
def test_merged_parts_equal_attention_over_all_keys(ends):
    generator = torch.Generator().manual_seed(len(ends))
    q, k, v = (
        torch.randn(1, 3, n, 8, generator=generator, dtype=torch.float64) for n in (5, 40, 40)
    )
    outputs, lses = zip(
        *(part_attention(q, k[:, :, a:b], v[:, :, a:b]) for a, b in zip(ends, ends[1:]))
    )
    merged = merge_partial_attention(torch.stack(outputs), torch.stack(lses))
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(merged, expected, rtol=0, atol=1e-12)


def test_merge_keeps_the_dtype_of_the_parts_and_weighs_in_float32():
    outputs = torch.tensor([[[1.0]], [[3.0]]], dtype=torch.bfloat16)  # [P=2, N=1, D=1]
    lses = torch.tensor([[0.0], [0.0]])  # equal denominators: plain mean
    merged = merge_partial_attention(outputs, lses)
    assert merged.dtype == torch.bfloat16
    assert merged.item() == 2.0


def test_key_splits_keep_parts_long_and_bounded():
    assert key_splits(1041, SPLIT_KEYS_MIN_PER_PART - 1) == 1
    assert key_splits(1041, 2 * SPLIT_KEYS_MIN_PER_PART) == 2
    assert key_splits(1041, 50_000) == min(SPLIT_KEYS_MAX_PARTS, 50_000 // SPLIT_KEYS_MIN_PER_PART)
    assert key_splits(1041, 10**7) == SPLIT_KEYS_MAX_PARTS
    assert key_splits(1, 10**7) == 1  # the camera trunk's single query takes the matmul path
