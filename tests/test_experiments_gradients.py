"""The vanishing-gradient measurement and its figure."""

from __future__ import annotations

import json
from dataclasses import replace

import torch

from lstmkit.experiments import gradients
from lstmkit.experiments.adding import AddingTask
from lstmkit.experiments.models import SequenceModel, parse_cell


def test_gradient_by_distance_matches_per_sequence_autograd():
    torch.manual_seed(0)
    task = AddingTask(20)
    batch = task.sample(6, torch.Generator().manual_seed(1))
    model = SequenceModel(parse_cell("gru"), 2, 8, 1)
    norms = gradients.gradient_by_distance(model, task, batch)
    shortest = int(batch.lengths.min())
    expected = torch.zeros(shortest)
    for b in range(6):  # one sequence at a time, unpadded; the batch loss is a mean over 6
        n = int(batch.lengths[b])
        x = batch.x[b : b + 1, :n].clone().requires_grad_(True)
        pred = model(x)[0, -1]
        loss = (pred - batch.y[b]).pow(2).sum() / 6
        (grad,) = torch.autograd.grad(loss, x)
        for d in range(shortest):
            expected[d] += grad[0, n - 1 - d].norm() / 6
    assert torch.allclose(norms, expected, rtol=1e-4, atol=1e-9)


def test_the_elman_gradient_vanishes_with_distance():
    torch.manual_seed(0)
    task = AddingTask(100)
    batch = task.sample(32, torch.Generator().manual_seed(0))
    rnn = gradients.gradient_by_distance(SequenceModel(parse_cell("rnn"), 2, 32, 1), task, batch)
    assert rnn[80:].mean() < 1e-3 * rnn[:3].mean()


def test_figure_and_numbers_are_written(tmp_path, monkeypatch):
    curves = {
        name: {"init": [1.0, 0.1, 0.01], "trained": [1.0, 0.5, 0.2], "sequences": [64],
               "solved": [0.0]}
        for name, _, _ in gradients.VARIANTS
    }  # fmt: skip
    monkeypatch.setattr(gradients, "gradient_curves", lambda *a, **k: curves)
    path = tmp_path / "fig.png"
    assert gradients.gradient_figure(path) == curves
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert json.loads(path.with_suffix(".json").read_text()) == curves
    path.unlink()
    monkeypatch.setattr(gradients, "gradient_curves", None)  # replot must not measure
    assert gradients.gradient_figure(path, replot=True) == curves
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gradient_curves_measure_before_and_after_training(monkeypatch):
    def small_task(seed):
        task = AddingTask(20)
        task.test_size = 64  # keep the test's scoring cheap
        return task

    experiment = replace(gradients.get_experiment("adding-100"), make_task=small_task)
    monkeypatch.setattr(gradients, "get_experiment", lambda name: experiment)
    curves = gradients.gradient_curves("adding-100", sequences=32)
    assert set(curves) == {"rnn", "gru", "lstm", "lstm, forget bias 1"}
    for curve in curves.values():
        assert len(curve["init"]) == len(curve["trained"]) == 20
        assert curve["sequences"] == [32] and curve["init"] != curve["trained"]
