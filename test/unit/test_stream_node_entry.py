# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The ``stream_node`` executable's Ctrl-C guard: an interrupted start-up exits with status
0 and no traceback, a broken install still fails loudly."""

from __future__ import annotations

import signal
import sys
import types

import pytest

from infinitevggt_ros.ros import stream_node_entry

NODE_MODULE = "infinitevggt_ros.ros.node"


@pytest.fixture
def node_module(monkeypatch):
    """A stand-in for the node module; restores the SIGINT handler the guard changes."""
    module = types.ModuleType(NODE_MODULE)
    monkeypatch.setitem(sys.modules, NODE_MODULE, module)
    handler = signal.getsignal(signal.SIGINT)
    yield module
    signal.signal(signal.SIGINT, handler)


def _failing_import(error: BaseException):
    def module_getattr(name: str):
        raise error

    return module_getattr


def test_ctrl_c_inside_a_c_extension_import_exits_zero(node_module):
    # What a SIGINT during rclpy's C-extension initialisation raises.
    try:
        raise ImportError("initialization failed") from KeyboardInterrupt()
    except ImportError as error:
        node_module.__getattr__ = _failing_import(error)
    assert stream_node_entry.main() == 0
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_a_broken_install_still_raises(node_module):
    node_module.__getattr__ = _failing_import(ImportError("libfoo.so: cannot open"))
    with pytest.raises(ImportError, match="libfoo"):
        stream_node_entry.main()


def test_ctrl_c_during_model_set_up_exits_zero(node_module):
    def run_node() -> int:
        raise KeyboardInterrupt

    node_module.main = run_node
    assert stream_node_entry.main() == 0


def test_interrupted_follows_causes_and_contexts():
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ImportError("during handling")  # noqa: B904 - the context is the point
    except ImportError as error:
        assert stream_node_entry.interrupted(error)
    assert not stream_node_entry.interrupted(ImportError("plain"))
