# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Choose the default camera-trunk cache budget: memory per frame vs agreement.

Streams a rendered synthetic sequence through the golden tiny checkpoint (the only
trained-format weights available offline; its weights are random) with several
``camera_cache_budget`` values and compares the poses with the unbounded run. Memory
figures are computed for the release model (camera head in float32: keys + values of
2048 floats, plus one float32 key norm per head, per token and trunk block).

    .venv/bin/python benchmarks/camera_cache_budget.py --frames 600 \
        --output benchmarks/results/camera_cache_budget.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from infinitevggt_ros.engine import StreamEngine
from infinitevggt_ros.model.config import RELEASE
from infinitevggt_ros.offline.synthetic import make_sequence
from infinitevggt_ros.preprocess import prepare_image

REFERENCE = Path(
    os.environ.get(
        "INFINITEVGGT_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference"
    )
)


def release_bytes_per_token() -> int:
    head = RELEASE.camera_head
    return 2 * head.dim_in * 4 + head.num_heads * 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--budgets", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    config = json.loads((REFERENCE / "golden" / "tiny_config.json").read_text())["config"]
    checkpoint = REFERENCE / "golden" / "tiny_checkpoint.pth"
    sequence = make_sequence(args.frames, width=112, height=84, seed=0)
    images = [prepare_image(f.rgb, target_width=112).tensor for f in sequence]
    poses = {}
    for budget in [None, *args.budgets]:
        engine = StreamEngine.from_checkpoint(
            checkpoint, config=config, total_budget=2000, camera_cache_budget=budget
        )
        poses[budget] = np.stack([engine.step(image).pose_enc.numpy() for image in images])
    trunk = RELEASE.camera_head.trunk_depth
    per_token = release_bytes_per_token()
    rows = []
    for budget in args.budgets:
        error = np.abs(poses[budget] - poses[None])
        translation = np.linalg.norm(poses[budget][:, :3] - poses[None][:, :3], axis=1)
        rows.append(
            {
                "camera_cache_budget": budget,
                "frames_of_history_reference_mode": budget // RELEASE.camera_head.num_iterations,
                "release_cache_mib": budget * trunk * per_token / 2**20,
                "pose_enc_max_abs_diff": float(error.max()),
                "translation_median_diff": float(np.median(translation)),
                "translation_max_diff": float(translation.max()),
            }
        )
    unbounded_mib_per_frame = RELEASE.camera_head.num_iterations * trunk * per_token / 2**20
    result = {
        "frames": args.frames,
        "unbounded_release_mib_per_frame": unbounded_mib_per_frame,
        "unbounded_release_mib_after_10000_frames": 10_000 * unbounded_mib_per_frame,
        "budgets": rows,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
