"""Multi-process training: the same script under torchrun gives the weights of one process."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from lstmkit.models import distributed

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    from lstmkit.layers import LSTM, Dense
    from lstmkit.models import Sequential

    out = sys.argv[1]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(48, 5, 3, generator=g)
    y = x.sum(1)[:, :2]
    model = Sequential([LSTM(6, input_shape=(5, 3)), Dense(2)])
    model.compile("sgd", "mse", metrics=["mae"], device="cpu")
    model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=2)
    model.save_weights(os.path.join(out, "weights.safetensors"))
    rank = os.environ.get("RANK", "0")
    model.save(os.path.join(out, f"model-{rank}.lstmkit"))
    """
)


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path, monkeypatch):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    monkeypatch.setattr(sys, "argv", [str(script), str(one)])
    runpy.run_path(str(script), run_name="__main__")  # one process, here
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    result = subprocess.run(
        [*cmd, str(script), str(two)], capture_output=True, text=True, timeout=180, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = load_file(one / "weights.safetensors"), load_file(two / "weights.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    epoch_lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2  # only rank 0 prints
    assert sorted(p.name for p in two.iterdir()) == ["model-0.lstmkit", "weights.safetensors"]


def test_single_process_context():
    ctx = distributed.current()
    assert (ctx.rank, ctx.world, ctx.is_main, ctx.active) == (0, 1, True, False)
    assert distributed.join(torch.device("cpu")) == ctx  # no WORLD_SIZE: nothing to join
    assert distributed.broadcast_int(7, ctx, torch.device("cpu")) == 7


@pytest.mark.parametrize(
    ("n", "world", "expected"),
    [
        (6, 2, [[0, 2, 4], [1, 3, 5]]),
        (5, 2, [[0, 2, 4], [1, 3, 0]]),  # padded with the first index, as DistributedSampler
        (1, 3, [[0], [0], [0]]),
    ],
)
def test_shards_have_equal_sizes(n, world, expected):
    shards = [distributed.shard(torch.arange(n), r, world).tolist() for r in range(world)]
    assert shards == expected


def test_batch_size_must_divide_between_processes(monkeypatch):
    from lstmkit import layers as L
    from lstmkit.models import Sequential

    model = Sequential([L.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse", device="cpu")
    monkeypatch.setattr(distributed, "join", lambda device: distributed.Context(0, 4))
    with pytest.raises(ValueError, match="batch_size: expected a multiple of the 4 processes"):
        model.fit(torch.zeros(8, 2), torch.zeros(8, 1), batch_size=6, verbose=0)
