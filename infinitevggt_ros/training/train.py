# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Train the bundled model on random synthetic rooms: one command, seeded, resumable.

    python -m infinitevggt_ros.training.train --state train_state --time-budget-s 540
    python -m infinitevggt_ros.training.train --state train_state --time-budget-s 540  # goes on
    python -m infinitevggt_ros.training.train --state train_state --export weights_dir

Each run trains until ``--total-steps`` or its time budget, whichever comes first, then saves
the whole training state into ``--state`` (weights and Adam moments in float32 safetensors
shards of at most ``--shard-mb`` MB, the step and the options in ``trainer.json``, one JSON
line per logged step in ``log.jsonl``); a later run with the same ``--state`` goes on from
there with the same options (they are read back from ``trainer.json``). The data of step n
is a pure function of (seed, n) (``rooms.make_clips``) and the learning-rate schedule a
function of n, so chunks of any length add up to the same run on the same kind of device.
``--export`` writes the shipped form: float16 ``model.safetensors``, ``config.json`` and
the loss curves (``loss_curves.png``).

Clips are fed causally, as the stream sees them: the model's causal batch forward (every
frame attends to itself and the frames before it), the same program the engine runs frame
by frame.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from infinitevggt_ros.model.bundled import BUNDLED_MODEL_HEIGHT_PX, BUNDLED_MODEL_WIDTH_PX
from infinitevggt_ros.model.config import PRESETS, ModelConfig
from infinitevggt_ros.model.streamvggt import Predictions, StreamVGGT
from infinitevggt_ros.training import losses, rooms

logger = logging.getLogger("infinitevggt_ros.training")

STATE_FILE = "trainer.json"
LOG_FILE = "log.jsonl"
VALIDATION_SEED_OFFSET = 1_000_000  # validation clips come from seeds training never uses

#: Options that define the run; read back from trainer.json on resume.
RUN_OPTIONS = (
    "preset",
    "seed",
    "total_steps",
    "frames_per_step",
    "clip_frames",
    "height",
    "width",
    "lr",
    "warmup_steps",
    "weight_decay",
    "init_from",
    "camera_weight",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--state", type=Path, required=True, help="training state folder")
    p.add_argument("--export", type=Path, default=None, help="write the shipped weights here")
    p.add_argument("--time-budget-s", type=float, default=540.0, help="stop and save after this")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--preset", default="small", choices=sorted(PRESETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--total-steps", type=int, default=12000, help="length of the lr schedule")
    p.add_argument("--frames-per-step", type=int, default=192, help="frames in one batch")
    p.add_argument(
        "--clip-frames", default="4,16", help="min,max frames of a clip (varies per step)"
    )
    p.add_argument("--height", type=int, default=BUNDLED_MODEL_HEIGHT_PX)
    p.add_argument("--width", type=int, default=BUNDLED_MODEL_WIDTH_PX)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--warmup-steps", type=int, default=300)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument(
        "--init-from",
        default="",
        help="start from the weights of another state folder (a new stage: fresh optimizer "
        "and schedule)",
    )
    p.add_argument(
        "--camera-weight",
        type=float,
        default=losses.CAMERA_WEIGHT,
        help="weight of the camera loss against depth and points (VGGT release: 5)",
    )
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--validate-every", type=int, default=250)
    p.add_argument("--shard-mb", type=float, default=12.0, help="tensor data per state file, MB")
    return p


def learning_rate(step: int, options: dict[str, Any]) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak at ``total_steps``."""
    peak = float(options["lr"])
    warmup, total = int(options["warmup_steps"]), int(options["total_steps"])
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def clip_shape(step: int, options: dict[str, Any]) -> tuple[int, int]:
    """(clips, frames per clip) of a step: clip length varies with the step, the number of
    frames per batch stays about the same."""
    low, high = (int(x) for x in str(options["clip_frames"]).split(","))
    frames = low + (step * 7919) % (high - low + 1)  # a fixed scramble of the lengths
    return max(1, options["frames_per_step"] // frames), frames


# --------------------------------------------------------------------------- state files


def save_sharded(
    tensors: dict[str, torch.Tensor], folder: Path, stem: str, max_bytes: int
) -> None:
    """Write ``tensors`` as ``stem-00000.safetensors``, ... of at most ``max_bytes`` each
    (a tensor larger than that gets a file of its own)."""
    from safetensors.torch import save_file

    for old in folder.glob(f"{stem}-*.safetensors"):
        old.unlink()
    shard: dict[str, torch.Tensor] = {}
    size = 0
    index = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        if shard and size + tensor.nbytes > max_bytes:
            save_file(shard, str(folder / f"{stem}-{index:05d}.safetensors"))
            shard, size, index = {}, 0, index + 1
        shard[name] = tensor
        size += tensor.nbytes
    if shard:
        save_file(shard, str(folder / f"{stem}-{index:05d}.safetensors"))


def load_sharded(folder: Path, stem: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob(f"{stem}-*.safetensors")):
        tensors.update(load_file(str(path)))
    return tensors


def initial_weights(source: Path) -> dict[str, torch.Tensor]:
    """Weights a new stage starts from: a training state folder (float32 shards) or a
    shipped model folder (``export``; float16, cast to float32), e.g. the bundled model."""
    shipped = source / "model.safetensors"
    if shipped.is_file() and not (source / STATE_FILE).is_file():
        from safetensors.torch import load_file

        return {name: t.to(torch.float32) for name, t in load_file(str(shipped)).items()}
    weights = load_sharded(source, "model")
    if not weights:
        raise ValueError(f"--init-from {source}: neither a training state nor a model folder")
    return weights


_BLOCK_KEY = re.compile(r"aggregator\.(frame|global)_blocks\.(\d+)\.(.+)")


def deepen_weights(weights: dict[str, torch.Tensor], model: StreamVGGT) -> dict[str, torch.Tensor]:
    """``weights`` of a model with fewer aggregator layers, mapped onto ``model`` so that it
    computes the same function: old layer i becomes layer (i + 1) k - 1 (k = new depth / old
    depth), every other layer keeps ``model``'s own initial weights with both LayerScales at
    zero (an exact identity until training grows them), everything else is copied. A deeper
    preset's DPT head reads layers k - 1, 2k - 1, ... (``SMALL_DEEP``), the old ones. Weights
    of the same depth come back unchanged."""
    old_depth = len({int(m[2]) for m in map(_BLOCK_KEY.match, weights) if m})
    new_depth = len(model.aggregator.frame_blocks)
    if old_depth in (0, new_depth):
        return weights
    if new_depth % old_depth:
        raise ValueError(
            f"cannot deepen {old_depth} aggregator layers to {new_depth}: not a multiple"
        )
    factor = new_depth // old_depth
    mapped = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    for index in range(new_depth):
        if index % factor != factor - 1:
            for kind in ("frame", "global"):
                for scale in ("ls1", "ls2"):
                    mapped[f"aggregator.{kind}_blocks.{index}.{scale}.gamma"].zero_()
    for name, tensor in weights.items():
        match = _BLOCK_KEY.match(name)
        if match:
            name = f"aggregator.{match[1]}_blocks.{(int(match[2]) + 1) * factor - 1}.{match[3]}"
        mapped[name] = tensor
    return mapped


def save_state(
    folder: Path,
    model: StreamVGGT,
    optimizer: torch.optim.Optimizer,
    step: int,
    options: dict[str, Any],
    max_bytes: int,
) -> None:
    """Weights, Adam moments and the step, written so that a crash mid-save leaves the
    previous state readable (trainer.json, written last, names the step)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {id(p): n for n, p in model.named_parameters()}
    moments: dict[str, dict[str, torch.Tensor]] = {"exp_avg": {}, "exp_avg_sq": {}}
    adam_steps: dict[str, float] = {}
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param)
            if not state:
                continue
            name = names[id(param)]
            for key in moments:
                moments[key][name] = state[key]
            adam_steps[name] = float(state["step"])
    save_sharded(dict(model.state_dict()), folder, "model", max_bytes)
    for key, tensors in moments.items():
        save_sharded(tensors, folder, key, max_bytes)
    record = {"step": step, "options": options, "adam_steps": adam_steps}
    temporary = folder / (STATE_FILE + ".tmp")
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, folder / STATE_FILE)


def restore_state(folder: Path, model: StreamVGGT, optimizer: torch.optim.Optimizer) -> int:
    """Load what ``save_state`` wrote; returns the step to go on from."""
    record = json.loads((folder / STATE_FILE).read_text())
    device = next(model.parameters()).device
    model.load_state_dict(load_sharded(folder, "model"), strict=True)
    exp_avg = load_sharded(folder, "exp_avg")
    exp_avg_sq = load_sharded(folder, "exp_avg_sq")
    for name, param in model.named_parameters():
        if name in record["adam_steps"]:
            optimizer.state[param] = {
                "step": torch.tensor(record["adam_steps"][name]),
                "exp_avg": exp_avg[name].to(device),
                "exp_avg_sq": exp_avg_sq[name].to(device),
            }
    return int(record["step"])


# --------------------------------------------------------------------------- training


def config_dict(config: ModelConfig) -> dict[str, Any]:
    """The model config in the ``tiny_config.json`` schema (``ModelConfig.from_dict``)."""
    return dataclasses.asdict(config)


def _forward(
    model: StreamVGGT, clips: rooms.Clips, autocast: torch.dtype | None, camera_weight: float
) -> tuple[dict[str, torch.Tensor], Predictions, losses.Targets]:
    """Losses of one batch of clips, with the predictions and targets they compare."""
    targets = losses.make_targets(clips.depth, clips.T_world_cam, clips.intrinsics)
    predictions = model(clips.images, starts_sequence=True, autocast_dtype=autocast)
    return losses.geometry_losses(predictions, targets, camera_weight), predictions, targets


@torch.no_grad()
def validate(
    model: StreamVGGT, options: dict[str, Any], device: torch.device, autocast: torch.dtype | None
) -> dict[str, float]:
    """Losses and quick metrics on four fixed held-out batches of 8-frame clips, plus the
    ATE / path of held-out 40-frame clips (``ate_over_path_40``: the evaluation's length)."""
    model.eval()
    totals: dict[str, float] = {}
    batches = 4
    hw = (options["height"], options["width"])
    seed = options["seed"] + VALIDATION_SEED_OFFSET
    weight = float(options["camera_weight"])
    for index in range(batches):
        clips = rooms.make_clips(
            seed, index, max(1, options["frames_per_step"] // 16), 8, hw, device
        )
        batch_losses, predictions, targets = _forward(model, clips, autocast, weight)
        figures = {k: float(v) for k, v in batch_losses.items()}
        figures.update(losses.quick_metrics(predictions, targets))
        for key, value in figures.items():
            totals[key] = totals.get(key, 0.0) + value / batches
    long_clips = rooms.make_clips(
        seed, batches, max(1, options["frames_per_step"] // 80), 40, hw, device
    )
    _, predictions, targets = _forward(model, long_clips, autocast, weight)
    totals["ate_over_path_40"] = losses.quick_metrics(predictions, targets)["ate_over_path"]
    model.train()
    return totals


def _steps(
    start: int, options: dict[str, Any], max_steps: int | None, deadline: float
) -> Iterator[int]:
    step = start
    while step < options["total_steps"] and time.monotonic() < deadline:
        if max_steps is not None and step - start >= max_steps:
            return
        yield step
        step += 1


def train(args: argparse.Namespace) -> int:
    """Run (or go on with) the training in ``args.state``; returns the next step."""
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    deadline = time.monotonic() + args.time_budget_s
    options = _run_options(args)
    torch.manual_seed(options["seed"])
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model = StreamVGGT.from_random_weights(options["preset"], options["seed"]).to(device)
    model.aggregator.init_constants(device)
    model.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=options["lr"],
        betas=(0.9, 0.95),
        weight_decay=options["weight_decay"],
    )
    start = 0
    if options["init_from"] and not (args.state / STATE_FILE).is_file():
        source = Path(options["init_from"])
        try:
            model.load_state_dict(deepen_weights(initial_weights(source), model), strict=True)
        except RuntimeError as error:  # another architecture: say which folder
            raise ValueError(f"--init-from {source}: {error}") from error
        logger.info("stage starts from the weights in %s", options["init_from"])
    if (args.state / STATE_FILE).is_file():
        start = restore_state(args.state, model, optimizer)
        logger.info("resumed from step %d in %s", start, args.state)
    autocast = torch.bfloat16 if device.type == "cuda" else None
    next_step = start
    log = args.state / LOG_FILE
    args.state.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with log.open("a") as log_file:
        for step in _steps(start, options, args.max_steps, deadline):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, options)
            batch, frames = clip_shape(step, options)
            clips = rooms.make_clips(
                options["seed"], step, batch, frames, (options["height"], options["width"]), device
            )
            out, _, _ = _forward(model, clips, autocast, float(options["camera_weight"]))
            optimizer.zero_grad(set_to_none=True)
            out["total"].backward()  # type: ignore[no-untyped-call]  # unannotated in torch
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            next_step = step + 1
            record: dict[str, Any] | None = None
            if step % args.log_every == 0:
                record = {k: float(v.detach()) for k, v in out.items()}
                record.update(
                    step=step, lr=learning_rate(step, options), grad_norm=float(grad_norm)
                )
                record["s_per_step"] = (time.monotonic() - began) / max(1, step - start + 1)
            if step % args.validate_every == 0 or step == options["total_steps"] - 1:
                record = record or {"step": step}
                record["validation"] = validate(model, options, device, autocast)
            if record is not None:
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
                logger.info("step %d: %s", step, {k: v for k, v in record.items() if k != "step"})
    save_state(args.state, model, optimizer, next_step, options, int(args.shard_mb * 1e6))
    logger.info("saved the state at step %d in %s", next_step, args.state)
    return next_step


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options: from trainer.json when resuming (a different value given on the
    command line is an error, also where it is the default), else from the command line."""
    given = {name: getattr(args, name) for name in RUN_OPTIONS}
    path = args.state / STATE_FILE
    if not path.is_file():
        return given
    defaults = build_parser().parse_args(["--state", "x"])
    # Options added after a state was written take their defaults.
    saved = {name: getattr(defaults, name) for name in RUN_OPTIONS}
    saved.update(json.loads(path.read_text())["options"])
    explicit = getattr(args, "explicit_options", set(RUN_OPTIONS))
    changed = [name for name in RUN_OPTIONS if name in explicit and given[name] != saved[name]]
    if changed:
        raise ValueError(
            f"{path} was trained with other {', '.join(changed)}; go on with the same options "
            "or start a new --state folder"
        )
    return saved


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The options, plus ``explicit_options``: the run options given on the command line."""
    args = build_parser().parse_args(argv)
    probe = build_parser()
    probe.set_defaults(**{name: None for name in RUN_OPTIONS})
    given = probe.parse_args(argv)
    args.explicit_options = {name for name in RUN_OPTIONS if getattr(given, name) is not None}
    return args


# --------------------------------------------------------------------------- export


def export(state: Path, folder: Path) -> Path:
    """The shipped form of a training state: float16 weights, config, loss curves."""
    from safetensors.torch import save_file

    record = json.loads((state / STATE_FILE).read_text())
    options = record["options"]
    config = PRESETS[options["preset"]]
    weights = load_sharded(state, "model")
    model = StreamVGGT(config)
    model.load_state_dict(weights, strict=True)  # refuses a state of another architecture
    folder.mkdir(parents=True, exist_ok=True)
    half = {name: tensor.to(torch.float16).contiguous() for name, tensor in weights.items()}
    metadata = {"format": "pt", "trained_steps": str(record["step"]), "preset": options["preset"]}
    save_file(half, str(folder / "model.safetensors"), metadata=metadata)
    (folder / "config.json").write_text(json.dumps(config_dict(config), indent=2) + "\n")
    plot_loss_curves(stage_logs(state), folder / "loss_curves.png")
    return folder


def stage_logs(state: Path) -> list[tuple[Path, int]]:
    """The log of ``state`` and of the stages it started from (``--init-from``, paths as
    given, relative to the working folder), first stage first, each with its first step in
    the whole run."""
    chain: list[Path] = []
    folder: Path | None = state
    while folder is not None and (folder / STATE_FILE).is_file() and folder not in chain:
        chain.append(folder)
        parent = json.loads((folder / STATE_FILE).read_text())["options"].get("init_from")
        folder = Path(parent) if parent else None
    logs: list[tuple[Path, int]] = []
    offset = 0
    for folder in reversed(chain):
        logs.append((folder / LOG_FILE, offset))
        offset += int(json.loads((folder / STATE_FILE).read_text())["step"])
    return logs


def plot_loss_curves(logs: list[tuple[Path, int]], path: Path) -> Path:
    """Training losses (left) and validation depth / pose figures (right) over the steps
    of all stages (vertical lines where a stage starts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = []
    for log, offset in logs:
        for line in log.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                record["step"] += offset
                records.append(record)
    train_rows = [r for r in records if "total" in r]
    val_rows = [r for r in records if "validation" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("total", "camera", "depth", "points"):
        left.plot([r["step"] for r in train_rows], [r[key] for r in train_rows], label=key)
    left.set_ylabel("training loss")
    left.set_yscale("log")
    steps = [r["step"] for r in val_rows]
    for key in ("abs_rel", "centre_error", "ate_over_path_40"):
        rows = [r for r in val_rows if key in r["validation"]]  # absent in older logs
        right.plot(
            [r["step"] for r in rows], [r["validation"][key] for r in rows], label=f"val {key}"
        )
    right.plot(
        steps, [1 - r["validation"]["delta_1.25"] for r in val_rows], label="val 1 - d<1.25"
    )
    right.set_yscale("log")
    for axis in (left, right):
        for _, offset in logs[1:]:
            axis.axvline(offset, color="grey", linestyle=":", linewidth=1)
        axis.set_xlabel("step")
        axis.legend()
        axis.grid(alpha=0.3)
    fig.suptitle("bundled synthetic-room model: training (held-out validation clips right)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    args = parse_arguments(argv)
    try:
        if args.export is not None:
            print(export(args.state, args.export))
            return 0
        train(args)
    except (ValueError, OSError) as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
