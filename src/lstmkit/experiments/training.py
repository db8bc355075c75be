"""Train one network on one task until it meets the paper's criterion, counting sequences.

Training sequences are counted as the paper counts them: every sequence the network is
trained on counts once (a minibatch of 32 counts 32). Every ``check_every`` sequences the
network is scored on the task's held-out test set; the run succeeds at the first check with
no more than ``task.max_wrong`` wrong sequences, and fails when ``budget`` sequences have
been seen without success.

Example:
    >>> from lstmkit.experiments.adding import AddingTask
    >>> from lstmkit.experiments.models import parse_cell
    >>> config = TrainConfig(hidden_size=8, batch_size=4, check_every=8, budget=16)
    >>> result = train(AddingTask(20), parse_cell("lstm"), config, seed=0, quiet=True)
    >>> result.seen, [h[0] for h in result.training]    # sequences seen, checks made
    (16, [8, 16])
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..progress import Progress
from .base import Batch, Task
from .models import Cell, SequenceModel

TEST_SEED_OFFSET = 7919  # the test set's generator seed is the run's seed plus this
RMSPROP_ALPHA = 0.9  # smoothing of RMSprop's running average of squared gradients
OPTIMIZERS = ("adam", "rmsprop")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How a network is trained (the same for every cell type on a task).

    Attributes:
        hidden_size: H, units of the recurrent layer.
        batch_size: sequences per update.
        lr: the optimiser's learning rate.
        optimizer: ``"adam"`` (Adam, Kingma & Ba 2015, torch's defaults) or ``"rmsprop"``
            (RMSprop, Tieleman & Hinton 2012, with a squared-gradient average of smoothing
            0.9, as in Arjovsky et al. 2016's copy-task runs).
        clip: gradient norm clipping threshold.
        schedule: ``"constant"`` keeps the learning rate (but for ``decay``);
            ``"cosine"`` anneals it over the budget, lr (1 + cos(pi s / budget)) / 2 after
            s training sequences (Loshchilov & Hutter 2017, one cycle, down to 0).
        decay: fine-tuning: once fewer than ``tune_below`` of the training sequences since
            the previous check were wrong, a check whose mean training loss is not below
            the best so far multiplies the learning rate by ``decay`` (1 turns this off).
            It buys the precision the criteria ask for without slowing the search before.
        tune_below: the share of wrong training sequences under which fine-tuning starts.
        test_below: the held-out test set is scored at a check only when at most this
            share of the training sequences since the previous check were wrong (and at
            the end of the budget): success needs far fewer, so nothing is missed, and
            long runs far from success skip the cost.
        check_every: sequences between two scorings on the test set.
        budget: sequences after which a run without success counts as a failure.
        chrono: 0 for lstmkit's initialisation, else T_max of the chrono gate-bias
            initialisation (see :func:`lstmkit.experiments.models.chrono_init_`).
        skip: the read-out also sees each step's input (see ``SequenceModel``).
        layer_norm: layer normalisation in the LSTM and GRU (see ``SequenceModel``).
    """

    hidden_size: int = 64
    batch_size: int = 32
    lr: float = 3e-3
    optimizer: str = "adam"
    clip: float = 1.0
    schedule: str = "constant"
    decay: float = 0.5
    tune_below: float = 0.1
    test_below: float = 0.2
    check_every: int = 2000
    budget: int = 100_000
    chrono: int = 0
    skip: bool = False
    layer_norm: bool = False

    def __post_init__(self) -> None:
        for name in ("hidden_size", "batch_size", "check_every", "budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        for name in ("skip", "layer_norm"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected a bool, got {getattr(self, name)!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule: expected one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr: expected a positive number, got {self.lr!r}")
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay: expected a number in (0, 1], got {self.decay!r}")
        for name in ("tune_below", "test_below"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(
                    f"{name}: expected a number in [0, 1], got {getattr(self, name)!r}"
                )


@dataclass
class RunResult:
    """One training run: whether and when it met the criterion.

    ``sequences`` is the number of training sequences seen at the first successful check
    (None if the run failed); ``history`` lists ``(sequences, wrong, test_loss)`` for each
    check that scored the test set, ``training`` ``(sequences, wrong share, mean loss)`` of
    the training sequences for every check.
    """

    task: str
    cell: str
    seed: int
    solved: bool
    sequences: int | None
    seen: int
    wrong: int
    test_size: int
    max_wrong: int
    parameters: int
    seconds: float
    config: dict = field(default_factory=dict)
    history: list[tuple[int, int, float]] = field(default_factory=list)
    training: list[tuple[int, float, float]] = field(default_factory=list)


def build_model(task: Task, cell: Cell, config: TrainConfig) -> SequenceModel:
    """The network ``config`` prescribes for ``task``, drawn from torch's global generator."""
    sizes = (task.input_size, config.hidden_size, task.output_size)
    return SequenceModel(
        cell, *sizes, chrono=config.chrono, skip=config.skip, layer_norm=config.layer_norm
    )


@torch.no_grad()
def evaluate(model: nn.Module, task: Task, test: Batch, chunk: int = 512) -> tuple[int, float]:
    """(wrong sequences, mean loss) of ``model`` on ``test``, in chunks of ``chunk``."""
    was_training = model.training
    model.eval()
    wrong, loss = 0, 0.0
    for start in range(0, len(test), chunk):
        part = test.select(slice(start, start + chunk))
        out = model(part.x)  # (b, T, O)
        wrong += int(task.wrong(out, part).sum())
        loss += float(task.loss(out, part)) * len(part)
    model.train(was_training)
    return wrong, loss / len(test)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser ``config.optimizer`` names, over the weights of ``model``."""
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=config.lr, alpha=RMSPROP_ALPHA)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


def anneal(opt: torch.optim.Optimizer, config: TrainConfig, seen: int, tuned: float) -> None:
    """Set the cosine schedule's learning rate after ``seen`` sequences, times ``tuned``
    (the product of the fine-tuning's ``decay`` factors so far)."""
    factor = 0.5 * (1 + math.cos(math.pi * seen / config.budget))
    for group in opt.param_groups:
        group["lr"] = config.lr * factor * tuned


def train(
    task: Task,
    cell: Cell,
    config: TrainConfig,
    seed: int,
    quiet: bool = False,
    model: SequenceModel | None = None,
) -> RunResult:
    """Train a network on ``task`` until success or ``config.budget`` sequences.

    The network is a fresh :class:`SequenceModel` drawn with ``seed``, or ``model`` (trained
    in place) when given.
    """
    torch.manual_seed(seed)
    if model is None:
        model = build_model(task, cell, config)
    data = torch.Generator().manual_seed(seed)
    test = task.test_set(torch.Generator().manual_seed(seed + TEST_SEED_OFFSET))
    opt = make_optimizer(model, config)
    plateau = None  # fine-tuning off with decay 1 (torch's scheduler wants a factor < 1)
    if config.decay < 1:
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.decay, patience=0)
    result = RunResult(
        task.name, cell.label, seed, False, None, 0, len(test), len(test), task.max_wrong,
        sum(p.numel() for p in model.parameters()), 0.0, asdict(config),
    )  # fmt: skip
    start, next_check = time.perf_counter(), config.check_every
    tuned = 1.0  # the fine-tuning's decay factors so far
    losses, wrong = [], 0  # training loss per batch and wrong sequences since the last check
    steps = -(-config.budget // config.batch_size)
    with Progress(steps, f"{task.name} {cell.label} seed {seed}", quiet=quiet) as bar:
        while result.seen < config.budget and not result.solved:
            batch = task.sample(config.batch_size, data)
            out = model(batch.x)  # (B, T, O)
            loss = task.loss(out, batch)
            opt.zero_grad()
            loss.backward()
            if config.schedule == "cosine":
                anneal(opt, config, result.seen, tuned)
            nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            opt.step()
            result.seen += config.batch_size
            losses.append(float(loss.detach()))
            wrong += int(task.wrong(out.detach(), batch).sum())
            if result.seen >= next_check or result.seen >= config.budget:
                next_check += config.check_every
                mean, share = sum(losses) / len(losses), wrong / (len(losses) * config.batch_size)
                result.training.append((result.seen, share, mean))
                if plateau is not None and share < config.tune_below:
                    lr = opt.param_groups[0]["lr"]
                    plateau.step(mean)
                    tuned *= config.decay if opt.param_groups[0]["lr"] < lr else 1.0
                losses, wrong = [], 0
                if share <= config.test_below or result.seen >= config.budget:
                    result.wrong, test_loss = evaluate(model, task, test)
                    result.history.append((result.seen, result.wrong, test_loss))
                    if result.wrong <= task.max_wrong:
                        result.solved, result.sequences = True, result.seen
            bar.update(loss=float(loss.detach()), wrong=result.wrong)
    result.seconds = time.perf_counter() - start
    return result
