# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The Triton split-key attention kernel against PyTorch's attention.

Without a GPU the kernel runs in Triton's interpreter (test/conftest.py sets
TRITON_INTERPRET); without Triton these tests are skipped and PyTorch's kernels run.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from infinitevggt_ros import attention_kernels
from infinitevggt_ros.model.attention import merge_partial_attention

pytestmark = pytest.mark.skipif(
    attention_kernels.triton is None or os.environ.get("TRITON_INTERPRET") != "1",
    reason="needs Triton's interpreter (on a GPU: benchmarks/attention_kernel.py)",
)


def _qkv(queries: int, keys: int, seed: int):
    """fp16 q [1, 2, Nq, 16]; k and v strided views of longer buffers, as the memory's."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 2, queries, 16, generator=g).half()
    k = (2.0 * torch.randn(1, 2, keys + 40, 16, generator=g)).half()[:, :, :keys]
    v = torch.randn(1, 2, keys + 40, 16, generator=g).half()[:, :, :keys]
    return q, k, v


@pytest.mark.parametrize("queries,keys,parts", [(37, 300, 3), (37, 300, 8), (130, 64, 1)])
def test_parts_merge_to_softmax_attention(queries, keys, parts):
    """A partial last query block, a partial last key block, more parts than key blocks."""
    q, k, v = _qkv(queries, keys, seed=keys + parts)
    outputs, log_sum_exps = attention_kernels.split_key_attention_parts(q, k, v, parts)
    assert outputs.dtype == torch.float32 and torch.isfinite(log_sum_exps).all()
    merged = merge_partial_attention(outputs, log_sum_exps).unsqueeze(0)
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    # the kernel rounds the softmax weights to fp16 before the product with v, as flash does
    torch.testing.assert_close(merged, expected, rtol=0, atol=3e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_merge_kernel_is_the_log_sum_exp_weighted_sum(dtype):
    """The one-launch merge against PyTorch's, with an empty part (log-sum-exp -inf,
    weight 0) and rows that do not fill the last block."""
    g = torch.Generator().manual_seed(4)
    outputs = torch.randn(4, 3, 50, 16, generator=g)
    log_sum_exps = 5.0 * torch.randn(4, 3, 50, generator=g)
    outputs[2], log_sum_exps[2] = 0.0, float("-inf")
    merged = attention_kernels.merge_parts(outputs, log_sum_exps, dtype)
    assert merged.shape == (1, 3, 50, 16) and merged.dtype == dtype
    expected = merge_partial_attention(outputs, log_sum_exps).unsqueeze(0)
    # equal up to the last 16-bit rounding (PyTorch sums in another order)
    torch.testing.assert_close(merged, expected.to(dtype))


@pytest.mark.parametrize("keys", [256, 300])  # whole key blocks only; a masked tail
def test_split_key_attention_is_softmax_attention(keys):
    q, k, v = _qkv(70, keys, seed=keys)
    out = attention_kernels.split_key_attention(q, k, v, 3)
    assert out.shape == q.shape and out.dtype == q.dtype
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    torch.testing.assert_close(out.float(), expected, rtol=0, atol=3e-3)


def test_each_part_is_attention_over_its_own_keys():
    q, k, v = _qkv(20, 256, seed=1)
    outputs, log_sum_exps = attention_kernels.split_key_attention_parts(q, k, v, 2)
    for part, (start, end) in enumerate([(0, 128), (128, 256)]):
        logits = (q.float() @ k[:, :, start:end].float().transpose(-1, -2))[0] / 4.0
        torch.testing.assert_close(
            log_sum_exps[part], torch.logsumexp(logits, -1), atol=1e-3, rtol=0
        )
        expected = torch.softmax(logits, -1) @ v[0, :, start:end].float()
        torch.testing.assert_close(outputs[part], expected, atol=3e-3, rtol=0)


def test_key_parts_and_where_the_kernel_runs(monkeypatch):
    assert attention_kernels.key_parts(attention_kernels.MIN_KEYS - 1) == 0
    assert attention_kernels.key_parts(10**7) == attention_kernels.MAX_PARTS
    q, k, v = _qkv(8, 64, seed=2)
    assert attention_kernels.layout_ok(q, k, v)
    assert not attention_kernels.supports(q, k, v)  # CPU tensors: PyTorch's kernels
    assert not attention_kernels.layout_ok(q.float(), k.float(), v.float())
    assert not attention_kernels.layout_ok(q[..., :12], k[..., :12], v[..., :12])
    monkeypatch.setattr(attention_kernels.SWITCH, "failure", None)
    monkeypatch.setenv(attention_kernels.ENV_SWITCH, "auto")
    assert attention_kernels.SWITCH.enabled()
    monkeypatch.setenv(attention_kernels.ENV_SWITCH, "torch")
    assert not attention_kernels.SWITCH.enabled()


def test_a_failing_kernel_falls_back_to_pytorch_attention(monkeypatch, caplog):
    from infinitevggt_ros.model.attention import attend

    monkeypatch.setattr(attention_kernels.SWITCH, "failure", None)
    monkeypatch.setattr(
        attention_kernels, "supports", lambda *t: attention_kernels.SWITCH.enabled()
    )

    def broken(*args, **kwargs):
        raise RuntimeError("out of shared memory")

    monkeypatch.setattr(attention_kernels, "split_key_attention_parts", broken)
    q, k, v = _qkv(16, attention_kernels.MIN_KEYS, seed=3)
    q, k, v = q.float(), k.float(), v.float()
    with caplog.at_level("WARNING"):
        out = attend(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    assert not attention_kernels.SWITCH.enabled()
    assert any("Triton attention kernels failed" in r.getMessage() for r in caplog.records)


def test_the_fma_exponential_is_within_1e_4_of_exp2_and_exact_at_integers():
    """The polynomial 2**x of POLY_EXP_EVERY's blocks over the range a softmax weight takes
    (x = logit - running max <= 0), through Triton like the kernel's own calls."""
    triton, tl = attention_kernels.triton, attention_kernels.tl

    @triton.jit
    def exp2_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + offs, mask=offs < n)
        tl.store(out_ptr + offs, attention_kernels._exp2_on_fma(x), mask=offs < n)

    spread = -126.0 * torch.rand(4000, generator=torch.Generator().manual_seed(3))
    x = torch.cat([spread, -torch.arange(0.0, 127.0), torch.tensor([-0.5, -1e-6, -(2.0**-20)])])
    out = torch.empty_like(x)
    exp2_kernel[(triton.cdiv(len(x), 256),)](x, out, len(x), BLOCK=256)
    exact = torch.exp2(x.double())
    assert float(((out.double() - exact) / exact).abs().max()) < 1e-4
    integers = slice(4000, 4127)
    assert torch.equal(out[integers].double(), exact[integers])  # powers of two exactly


@pytest.mark.parametrize("poly_every", [1, 2, 3])
def test_blocks_with_the_fma_exponential_give_the_same_attention(poly_every):
    """Every poly_every-th full key block with the polynomial (the other blocks, the blocks
    after the last whole group and the masked last block with exp2): softmax attention to
    the same tolerance, and within a 16-bit weight's rounding of the exp2-only kernel."""
    q, k, v = _qkv(37, 700, seed=poly_every)  # 10 full blocks of 64 and a partial one
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    plain = merge_partial_attention(
        *attention_kernels.split_key_attention_parts(q, k, v, 1, poly_every=0)
    ).unsqueeze(0)
    poly = merge_partial_attention(
        *attention_kernels.split_key_attention_parts(q, k, v, 1, poly_every=poly_every)
    ).unsqueeze(0)
    torch.testing.assert_close(poly, expected, rtol=0, atol=3e-3)
    assert 0 < float((poly - plain).abs().max()) < 2e-3  # it ran, and differs by rounding


def test_the_fma_exponential_interval_is_checked():
    read = attention_kernels._poly_exp_every
    assert read({}) == 0 and read({attention_kernels.POLY_EXP_ENV: " 4 "}) == 4
    for bad in ("-1", "17", "four", "2.5"):
        with pytest.raises(ValueError, match="INFINITEVGGT_ATTENTION_POLY_EVERY"):
            read({attention_kernels.POLY_EXP_ENV: bad})
    q, k, v = _qkv(8, 64, seed=1)
    with pytest.raises(ValueError, match="poly_every must be 0"):
        attention_kernels.split_key_attention_parts(q, k, v, 1, poly_every=17)
