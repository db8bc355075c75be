"""Building the CPU kernels: cache keys, and a failed build that warns once and falls back."""

from __future__ import annotations

import functools
import sys
import warnings
from unittest import mock

import pytest
import torch

from lstmkit import nn as lk
from lstmkit.ops import cpu, dispatch, native, reference
from lstmkit.ops.spec import RNNSpec


@pytest.fixture
def fresh_status(monkeypatch):
    """A process in which nobody has tried to build the kernels yet."""
    monkeypatch.setattr(cpu, "_status", {})


def broken_build(tmp_path):
    source = tmp_path / "broken.cpp"
    source.write_text("this is not C++;\n")
    return functools.partial(
        cpu.build, sources=[source], name="lstmkit_broken", build_directory=tmp_path / "build"
    )


def test_broken_source_raises_from_build(tmp_path):
    with pytest.raises(Exception, match="lstmkit_broken"):
        broken_build(tmp_path)()


def test_failed_build_warns_once_and_forced_fused_runs_the_reference(
    tmp_path, monkeypatch, fresh_status
):
    monkeypatch.setattr(cpu, "build", broken_build(tmp_path))
    lstm = lk.LSTM(3, 4, impl="fused")
    ref = lk.LSTM(3, 4, impl="reference")
    ref.load_state_dict(lstm.state_dict())
    x = torch.randn(5, 2, 3)
    with pytest.warns(RuntimeWarning) as caught:
        out = lstm(x)[0]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message and "could not be built" in message and "lstmkit_broken" in message
    torch.testing.assert_close(out, ref(x)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second call neither rebuilds nor warns again
        with mock.patch.object(reference, "rnn", wraps=reference.rnn) as spy:
            lstm(x)
        assert spy.call_count == 1
    assert cpu.available() is False


def test_failed_build_leaves_cells_on_the_full_path(monkeypatch, fresh_status):
    """Without kernels a fused cell under no_grad runs the reference step (no quick path),
    and asking for the kernels' module says why it is missing."""
    monkeypatch.setattr(cpu, "build", mock.Mock(side_effect=OSError("no compiler")))
    theirs = torch.nn.LSTMCell(3, 4)
    ours = lk.LSTMCell.from_torch(theirs, impl="fused")
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    with pytest.warns(RuntimeWarning, match="could not be built"), torch.no_grad():
        torch.testing.assert_close(ours(x, (h, h)), theirs(x, (h, h)))
    with pytest.raises(RuntimeError, match=r"kernels are not built \(OSError: no compiler\)"):
        cpu.module()


def test_failed_build_leaves_auto_on_torchs_kernel(monkeypatch, fresh_status):
    monkeypatch.setattr(cpu, "build", mock.Mock(side_effect=OSError("no compiler")))
    spec = RNNSpec("lstm", 3, 4)
    with pytest.warns(RuntimeWarning, match="OSError: no compiler"):
        assert dispatch.choose_impl(spec, "auto", torch.randn(5, 8, 3)) == "native"
    with mock.patch.object(native, "rnn", wraps=native.rnn) as spy:
        lk.LSTM(3, 4)(torch.randn(5, 8, 3))
    assert spy.call_count == 1


def test_cache_directory_depends_on_the_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("LSTMKIT_CACHE_DIR", str(tmp_path))
    here = cpu.cache_dir()
    assert here.parent == tmp_path and here.name.startswith("cpu-")
    monkeypatch.setattr(cpu, "cpu_fingerprint", lambda: "another machine")
    assert cpu.cache_dir() != here


def test_build_flags_are_optimised():
    assert "-O3" in cpu.build_flags()
    # threads of a time loop need OpenMP compiled in (torch's runtime is reused)
    assert ("-fopenmp" in cpu.build_flags()) == sys.platform.startswith("linux")


def test_cache_directory_depends_on_the_sources(monkeypatch, tmp_path):
    monkeypatch.setenv("LSTMKIT_CACHE_DIR", str(tmp_path))
    here = cpu.cache_dir()
    monkeypatch.setattr(cpu, "source_digest", lambda: "another version of the kernels")
    assert cpu.cache_dir() != here
