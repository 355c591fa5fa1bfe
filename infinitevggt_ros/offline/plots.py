# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""PNG plots of a replay and of an evaluation (matplotlib, Agg backend: no display needed).

Replay: trajectory top view, engine time / cache / memory over frames (``FrameRecord``s of
``offline.replay_report``), a depth and confidence strip. Evaluation: the Sim(3)-aligned
estimate over the ground truth, and a metric replay's scale error (est / gt) over time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def _finish(plt: Any, fig: Any, ax: Any, path: Path, title: str) -> Path:
    """Grid, legend and title of a one-axes figure, written to ``path`` and closed."""
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _top_view_axes(positions: np.ndarray) -> tuple[int, int, str, str]:
    """The two axes with the largest spread (a ROS world is usually x/y, z up)."""
    spread = np.ptp(positions, axis=0) if len(positions) else np.ones(3)
    a, b = sorted(np.argsort(spread)[-2:])
    names = "xyz"
    return int(a), int(b), names[a], names[b]


def plot_trajectory_top_view(
    path: Path,
    est_positions: np.ndarray,
    gt_positions: np.ndarray | None = None,
    title: str = "Camera trajectory (top view)",
) -> Path:
    """Top view of camera positions [N, 3] (and aligned ground truth [N, 3])."""
    plt = _pyplot()
    reference = gt_positions if gt_positions is not None else est_positions
    a, b, na, nb = _top_view_axes(reference)
    fig, ax = plt.subplots(figsize=(6, 6))
    if gt_positions is not None:
        ax.plot(
            gt_positions[:, a], gt_positions[:, b], "-", color="0.4", lw=2, label="ground truth"
        )
    ax.plot(
        est_positions[:, a], est_positions[:, b], "-", color="tab:blue", lw=1.5, label="estimate"
    )
    ax.plot(*est_positions[0, [a, b]], "o", color="tab:green", label="start")
    ax.plot(*est_positions[-1, [a, b]], "s", color="tab:red", label="end")
    if gt_positions is not None:
        for i in range(0, len(est_positions), max(1, len(est_positions) // 40)):
            ax.plot(
                [est_positions[i, a], gt_positions[i, a]],
                [est_positions[i, b], gt_positions[i, b]],
                color="tab:orange", lw=0.6, alpha=0.7,
            )  # fmt: skip
    ax.set_xlabel(na)
    ax.set_ylabel(nb)
    ax.set_aspect("equal", adjustable="datalim")
    return _finish(plt, fig, ax, path, title)


def plot_scale_error(
    path: Path,
    series: Sequence[tuple[str, np.ndarray, np.ndarray]],
    title: str = "Scale error over time",
) -> Path:
    """Ratios est / gt over time: ``series`` of (label, stamps ns [N], ratio [N], NaN gaps).

    Time runs from the first stamp of all series; the 1.0 line and a +-2 % band (the
    issue's target) make a metric estimate easy to read.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    starts = [int(stamps[0]) for _, stamps, _ in series if len(stamps)]
    t0 = min(starts) if starts else 0
    ax.axhspan(0.98, 1.02, color="tab:green", alpha=0.15, label="+-2 %")
    ax.axhline(1.0, color="0.3", lw=1)
    for label, stamps, ratio in series:
        t_s = (np.asarray(stamps, dtype=np.int64) - t0) * 1e-9
        ax.plot(t_s, np.asarray(ratio, dtype=np.float64), lw=1.5, label=label)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("scale est / gt")
    return _finish(plt, fig, ax, path, title)


def plot_timeline(path: Path, records: Sequence) -> Path:
    """Engine time, cached tokens and process memory over frames (``FrameRecord`` list)."""
    plt = _pyplot()
    frames = np.arange(len(records))
    latency = np.array([r.engine_ms for r in records])
    tokens = np.array([r.cached_tokens for r in records])
    cache_mb = np.array([r.cache_bytes for r in records]) / 2**20
    rss = [r.rss_bytes for r in records]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    axes[0].plot(frames, latency, color="tab:blue", lw=1)
    if len(latency) >= 30:
        k = 15
        smooth = np.convolve(latency, np.ones(k) / k, mode="valid")
        axes[0].plot(frames[k - 1 :], smooth, color="tab:red", lw=1.5, label=f"mean of {k}")
        axes[0].legend(fontsize=8)
    axes[0].set_ylabel("engine ms / frame")
    p50, p95 = np.percentile(latency, [50, 95])
    axes[0].set_title(f"Engine step: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    axes[1].plot(frames, tokens, color="tab:purple")
    axes[1].set_ylabel("cached tokens\n(all layers)")
    axes[2].plot(frames, cache_mb, color="tab:green")
    axes[2].set_ylabel("KV cache MB", color="tab:green")
    if all(r is not None for r in rss):
        # Process memory is far larger than the cache: its own axis keeps both readable.
        twin = axes[2].twinx()
        twin.plot(frames, np.array(rss) / 2**20, color="tab:gray")
        twin.set_ylabel("process RSS MB", color="tab:gray")
    axes[2].set_xlabel("frame")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_depth_strip(path: Path, strip: Sequence[dict]) -> Path:
    """Rows: model input, depth, confidence, for a few frames (columns)."""
    plt = _pyplot()
    n = len(strip)
    fig, axes = plt.subplots(3, n, figsize=(3.2 * n, 7.0), squeeze=False)
    for col, item in enumerate(strip):
        depth = item["depth"]
        finite = depth[np.isfinite(depth)]
        lo, hi = np.percentile(finite, [2, 98]) if finite.size else (0, 1)
        axes[0, col].imshow(item["rgb"])
        axes[0, col].set_title(f"frame {int(item['index'])}")
        im = axes[1, col].imshow(depth, cmap="turbo", vmin=lo, vmax=hi)
        fig.colorbar(im, ax=axes[1, col], fraction=0.046, pad=0.02)
        im = axes[2, col].imshow(item["confidence"], cmap="magma")
        fig.colorbar(im, ax=axes[2, col], fraction=0.046, pad=0.02)
        for row in range(3):
            axes[row, col].axis("off")
    axes[0, 0].text(
        -0.1, 0.5, "input", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right"
    )
    axes[1, 0].text(
        -0.1, 0.5, "depth", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right"
    )
    axes[2, 0].text(
        -0.1,
        0.5,
        "confidence",
        transform=axes[2, 0].transAxes,
        rotation=90,
        va="center",
        ha="right",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_replay(
    folder: Path, T_world_cam: np.ndarray, records: Sequence, strip: Sequence[dict]
) -> list[Path]:
    """The three replay plots into ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_trajectory_top_view(folder / "trajectory_top.png", T_world_cam[:, :3, 3]),
        plot_timeline(folder / "latency_memory.png", records),
    ]
    if strip:
        paths.append(plot_depth_strip(folder / "depth_strip.png", strip))
    return paths
