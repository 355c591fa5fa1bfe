# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Build script for the infinitevggt_ros ament_python package (colcon and pip)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE_NAME = "infinitevggt_ros"

setup(
    name=PACKAGE_NAME,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    # The bundled synthetic-room model (weights, config, model card) ships inside the package.
    package_data={PACKAGE_NAME: ["weights/*/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE_NAME}"]),
        (f"share/{PACKAGE_NAME}", ["package.xml"]),
        (f"share/{PACKAGE_NAME}/launch", sorted(glob("launch/*.launch.py"))),
        (
            f"share/{PACKAGE_NAME}/config",
            sorted(glob("config/*.yaml") + glob("config/*.rviz")),
        ),
    ],
    python_requires=">=3.10",
    # torch is left to the user (CPU or the CUDA build matching the machine); rclpy and the
    # message packages come from the ROS 2 install.
    install_requires=["setuptools", "numpy", "pillow", "scipy", "tqdm", "safetensors"],
    extras_require={
        "offline": ["rosbags>=0.11", "matplotlib"],
        "test": ["pytest", "ruff"],
    },
    zip_safe=False,  # the bundled model is read from its folder
    maintainer="infinitevggt_ros authors",
    maintainer_email="maintainers@infinitevggt-ros.invalid",
    description="Streaming InfiniteVGGT (StreamVGGT + rolling memory) 3D reconstruction for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"stream_node = {PACKAGE_NAME}.ros.stream_node_entry:main",
            f"infinitevggt-replay = {PACKAGE_NAME}.offline.replay_cli:main",
            f"infinitevggt-eval = {PACKAGE_NAME}.offline.eval:main",
            f"infinitevggt-bench = {PACKAGE_NAME}.offline.bench:main",
            f"infinitevggt-train = {PACKAGE_NAME}.training.train:main",
        ],
    },
)
