# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Time the official InfiniteVGGT code's own streaming loop with random weights, for a
side-by-side with ``infinitevggt-bench`` in the same call on the same GPU.

The official code is not part of this package and nothing of it is copied here: give the
path of its ``src`` folder (a checkout of AutoLab-SAI-SJTU/InfiniteVGGT), e.g.

    git clone https://github.com/AutoLab-SAI-SJTU/InfiniteVGGT ref
    python3 benchmarks/reference_side_by_side.py --reference-src ref/src --frames 150

It builds the code's ``StreamVGGT(total_budget=...)`` (its own random initialisation; speed
does not depend on weight values), feeds random 392x518 frames through its
``StreamVGGT.inference`` under bf16 autocast as its ``run_inference.py`` does, and times each
frame from the loop's per-frame callback (``frame_writer``, after a device sync). Where
``huggingface_hub``, ``transformers`` or ``einops`` are missing (the code imports a mixin, a
base class and two functions of the track head from them, unused at inference), stand-ins
are put on the path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

STANDINS = {
    "huggingface_hub/__init__.py": "class PyTorchModelHubMixin:\n    pass\n",
    "transformers/__init__.py": "",
    "transformers/file_utils.py": "class ModelOutput:\n    pass\n",
    # used by the track head's forward only (no query points at inference)
    "einops/__init__.py": "def rearrange(*args, **kwargs):\n    raise NotImplementedError\n\n"
    "repeat = rearrange\n",
}


def add_standins(folder: Path) -> list[str]:
    """Stand-ins for the missing imports; returns the module names stood in for."""
    missing = []
    for module in ("huggingface_hub", "transformers", "einops"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    for relative, text in STANDINS.items():
        if relative.split("/")[0] in missing:
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    sys.path.append(str(folder))
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--reference-src", type=Path, required=True, help="the code's src folder")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--height", type=int, default=392)
    parser.add_argument("--width", type=int, default=518)
    parser.add_argument("--total-budget", type=int, default=1_200_000)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if not (args.reference_src / "streamvggt" / "models" / "streamvggt.py").is_file():
        parser.error(f"{args.reference_src} has no streamvggt/models/streamvggt.py")
    if not torch.cuda.is_available():
        print("reference_side_by_side: needs CUDA", file=sys.stderr)
        return 1
    sys.path.insert(0, str(args.reference_src))
    with tempfile.TemporaryDirectory() as standin_folder:
        stood_in = add_standins(Path(standin_folder))
        from streamvggt.models.streamvggt import StreamVGGT  # the official code

        torch.manual_seed(0)
        model = StreamVGGT(total_budget=args.total_budget).cuda().eval()
        g = torch.Generator(device="cuda").manual_seed(0)
        frames = [
            {"img": torch.rand(1, 3, args.height, args.width, device="cuda", generator=g)}
            for _ in range(args.frames)
        ]
        stamps: list[float] = []

        def frame_done(index: int, frame: dict, result: dict) -> None:
            torch.cuda.synchronize()
            stamps.append(time.perf_counter())

        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            model.inference(frames, frame_writer=frame_done, cache_results=False)
    per_frame = [1000 * (b - a) for a, b in zip([start, *stamps[:-1]], stamps, strict=True)]
    steady = per_frame[len(per_frame) // 2 :]
    result = {
        "code": "AutoLab-SAI-SJTU/InfiniteVGGT, StreamVGGT.inference (random weights)",
        "machine": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "frames": args.frames,
        "size": [args.height, args.width],
        "total_budget": args.total_budget,
        "stand_ins": stood_in,
        "ms_per_frame": per_frame,
        "steady_state_frames": [len(per_frame) // 2, len(per_frame)],
        "ms_per_frame_p50": statistics.median(steady),
        "ms_per_frame_mean": statistics.fmean(steady),
        "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
    }
    print(
        f"reference: {result['ms_per_frame_p50']:.1f} ms/frame p50 over frames "
        f"{result['steady_state_frames']}, peak {result['peak_allocated_gib']:.2f} GiB"
    )
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
