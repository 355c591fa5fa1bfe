# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""``infinitevggt-replay``: the command line of the offline replay.

    infinitevggt-replay input.mcap -o out/ --checkpoint checkpoints.pth
    ros2 run infinitevggt_ros infinitevggt-replay input_bag/ -o out/ --random-weights tiny

The node's parameters are options with the node's names and defaults, generated from the
parameter table (``ros/params.py``); values are checked by the parser. Errors, bad options
included, are one line on stderr with exit status 2 (``main`` returns it); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from infinitevggt_ros.offline.cli_args import OneLineErrorParser, int_at_least, non_negative_float
from infinitevggt_ros.offline.replay import ReplayOptions, namespace_problem, replay_sequence
from infinitevggt_ros.offline.replay_report import BAG_DIRNAME, format_report
from infinitevggt_ros.ros.params import (
    REPLAY_PARAMETER_NAMES,
    add_parameter_arguments,
    params_from_args,
)
from infinitevggt_ros.ros.topics import NODE_NAME

PROG = "infinitevggt-replay"


def ros_namespace(text: str) -> str:
    """argparse type: a namespace for the recorded topics."""
    problem = namespace_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG,
        description="Replay a rosbag2 / image folder / TUM / 7-Scenes / Long3D sequence through "
        "InfiniteVGGT with the node's session and messages; write a bag, trajectory, fused "
        "PLY, summary and plots.",
    )
    parser.add_argument("input", type=Path, help="bag (folder or .mcap/.db3) or sequence folder")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--topic", help="image topic of a bag with several colour topics")
    parser.add_argument("--every-n", type=int_at_least(1), default=1, help="use every n-th frame")
    parser.add_argument(
        "--max-frames", type=int_at_least(1), default=None, help="stop after this many"
    )
    parser.add_argument(
        "--node-name", type=ros_namespace, default=NODE_NAME, help="topic namespace of the outputs"
    )
    parser.add_argument(
        "--ply-voxel-size",
        type=non_negative_float,
        default=0.0,
        help="voxel of the fused PLY (output units; 0 = 1%% of the first median depth)",
    )
    parser.add_argument(
        "--no-bag",
        action="store_true",
        help=f"skip the output bag ({BAG_DIRNAME}/); trajectory, PLY, summary and plots are "
        "still written (faster; a timing run without bag serialisation)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--no-overlap",
        action="store_true",
        help="one frame at a time (default: read, preprocess and record beside the engine)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    add_parameter_arguments(parser, REPLAY_PARAMETER_NAMES, "the node's parameters")
    return parser


def options_from_args(args: argparse.Namespace) -> ReplayOptions:
    """ReplayOptions of parsed arguments (ValueError for an invalid combination)."""
    return ReplayOptions(
        params=params_from_args(args),
        node_name=args.node_name,
        topic=args.topic,
        every_n=args.every_n,
        max_frames=args.max_frames,
        ply_voxel_size=args.ply_voxel_size,
        write_bag=not args.no_bag,
        write_plots=not args.no_plots,
        progress=not args.no_progress,
        overlap=not args.no_overlap,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # ros2 run appends --ros-args ...; a replay has no node, so drop them.
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--ros-args" in argv:
        argv = argv[: argv.index("--ros-args")]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # a bad option (its line is printed) or --help
        return 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 2
    from infinitevggt_ros.engine import use_process_defaults

    use_process_defaults()
    try:
        result = replay_sequence(args.input, args.output, options_from_args(args))
    except (ValueError, OSError, MemoryError) as error:  # DatasetError, CheckpointError
        if args.debug:
            raise
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{PROG}: interrupted; the output folder is as it was", file=sys.stderr)
        return 130
    print(format_report(result), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
