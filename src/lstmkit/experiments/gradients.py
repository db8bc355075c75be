"""The vanishing gradient, measured: how much the loss at a sequence's end depends on each step.

For a network and a batch of adding-problem sequences, :func:`gradient_by_distance` gives
the norm of the gradient of the loss with respect to the input at each step, averaged over
the batch and indexed by the step's distance from the end of its sequence (where the loss
is). In an Elman RNN the norm falls geometrically with the distance: the error signal
cannot reach the marked inputs, which lie at distance T/2 or more. The LSTM's cell carries
it back. :func:`gradient_figure` draws this for RNN, GRU and LSTM at initialisation and
after training on the adding problem, on a log scale.

Example:
    >>> from lstmkit.experiments.adding import AddingTask
    >>> from lstmkit.experiments.models import SequenceModel, parse_cell
    >>> task = AddingTask(20)
    >>> batch = task.sample(8, torch.Generator().manual_seed(0))
    >>> model = SequenceModel(parse_cell("rnn"), 2, 16, 1)
    >>> norms = gradient_by_distance(model, task, batch)
    >>> norms.shape, bool(norms[0] > norms[-1])       # (T,), near the loss > far from it
    (torch.Size([20]), True)
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from .base import Batch, Task
from .models import SequenceModel, parse_cell
from .registry import get_experiment
from .training import build_model, train

CELLS = ("rnn", "gru", "lstm")
# (curve name, cell, chrono override): the LSTM also without the chrono initialisation,
# i.e. with lstmkit's forget bias of 1, to show what the initialisation contributes.
VARIANTS = (*((c, c, None) for c in CELLS), ("lstm, forget bias 1", "lstm", 0))


def gradient_by_distance(model: SequenceModel, task: Task, batch: Batch) -> Tensor:
    """(T,) mean over the batch of ||dL/dx_t||, index = distance of step t from the end.

    T is the shortest sequence's length, so every distance is averaged over the whole batch.
    """
    x = batch.x.clone().requires_grad_(True)
    loss = task.loss(model(x), Batch(x, batch.lengths, batch.y, batch.legal))
    (grad,) = torch.autograd.grad(loss, x)  # (B, T', I)
    norms = grad.norm(dim=-1)  # (B, T')
    shortest = int(batch.lengths.min())
    distance = torch.arange(shortest)  # (T,)
    steps = batch.lengths.unsqueeze(1) - 1 - distance  # (B, T) the step at each distance
    return norms.gather(1, steps).mean(0)  # (T,)


def gradient_curves(
    experiment: str = "adding-100", sequences: int = 30_000, seed: int = 0, quiet: bool = True
) -> dict[str, dict[str, list[float]]]:
    """Gradient norms by distance for each cell, at initialisation and after training.

    Each cell is trained as the experiment prescribes, for at most ``sequences`` training
    sequences (it stops early once it meets the success criterion); the LSTM a second
    time without the chrono initialisation (curve ``"lstm, forget bias 1"``).
    """
    spec = get_experiment(experiment)
    task = spec.make_task(seed)
    config = replace(spec.config, budget=sequences)
    batch = task.sample(256, torch.Generator().manual_seed(seed + 1))
    curves: dict[str, dict[str, list[float]]] = {}
    for name, kind, chrono in VARIANTS:
        cell = parse_cell(kind)
        setting = config if chrono is None else replace(config, chrono=chrono)
        torch.manual_seed(seed)
        model = build_model(task, cell, setting)
        start = gradient_by_distance(model, task, batch).tolist()
        run = train(task, cell, setting, seed, quiet=quiet, model=model)
        end = gradient_by_distance(model, task, batch).tolist()
        curves[name] = {"init": start, "trained": end, "sequences": [run.seen], "solved": [
            float(run.solved)]}  # fmt: skip
    return curves


def plot_curves(curves: dict[str, dict[str, list[float]]], path: str | Path, title: str) -> None:
    """Two log-scale panels (initialisation, trained) of the curves, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = {"rnn": "tab:red", "gru": "tab:green", "lstm": "tab:blue"}
    labels = {"rnn": "RNN", "gru": "GRU (chrono init)", "lstm": "LSTM (chrono init)"}
    for ax, stage, title_text in zip(
        axes, ("init", "trained"), ("at initialisation", "after training"), strict=True
    ):
        for name, curve in curves.items():
            suffix = ""
            if stage == "trained":
                solved = "solved" if curve["solved"][0] else "not solved"
                suffix = f" ({int(curve['sequences'][0]):,} seq., {solved})"
            style = {"color": colors.get(name, "tab:purple"), "ls": "-" if name in colors else "--"}
            label = labels.get(name, name.replace("lstm", "LSTM"))
            ax.semilogy(curve[stage], label=f"{label}{suffix}", **style)
        ax.set_title(title_text)
        ax.set_xlabel("distance of the input step from the loss (steps)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("mean ||dL / dx_t||")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gradient_figure(
    path: str | Path,
    experiment: str = "adding-100",
    sequences: int = 30_000,
    quiet: bool = True,
    replot: bool = False,
) -> dict[str, dict[str, list[float]]]:
    """Measure the curves, save the PNG at ``path`` and the numbers beside it as JSON.

    ``replot`` draws the PNG again from the JSON already there, without measuring.
    """
    numbers = Path(path).with_suffix(".json")
    if replot:
        curves = json.loads(numbers.read_text())
    else:
        curves = gradient_curves(experiment, sequences, quiet=quiet)
        numbers.write_text(json.dumps(curves, allow_nan=False) + "\n")
    task = get_experiment(experiment).make_task(0)
    plot_curves(curves, path, f"Gradient of the loss w.r.t. each input step, {task.name}")
    return curves
