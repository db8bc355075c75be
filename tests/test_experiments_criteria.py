"""The paper's success criteria on hand-made network outputs."""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit.experiments.adding import AddingTask
from lstmkit.experiments.base import Batch, last_step
from lstmkit.experiments.copy import CopyTask
from lstmkit.experiments.long_lag import LongLagTask
from lstmkit.experiments.multiplication import MultiplicationTask
from lstmkit.experiments.reber import EmbeddedReberTask, legal_not_top
from lstmkit.experiments.temporal_order import TemporalOrderTask


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def final_output(batch: Batch, final: torch.Tensor, fill: float = 123.0) -> torch.Tensor:
    """(B, T, O) output that is ``fill`` everywhere but ``final`` (B, O) at each end."""
    out = torch.full((len(batch), batch.x.shape[1], final.shape[-1]), fill)
    out[torch.arange(len(batch)), batch.lengths - 1] = final
    return out


def test_last_step_reads_each_sequence_at_its_own_end():
    out = torch.randn(3, 6, 2)
    lengths = torch.tensor([6, 1, 4])
    expected = torch.stack([out[0, 5], out[1, 0], out[2, 3]])
    assert torch.equal(last_step(out, lengths), expected)


@pytest.mark.parametrize("task", [AddingTask(20), MultiplicationTask(20)])
def test_regression_tasks_count_errors_over_0_04_at_the_end_only(task):
    b = task.sample(10, gen(1))
    errors = torch.tensor([0.0, 0.039, -0.039, 0.041, -0.041, 0.2, -1.0, 0.01, 0.0, 0.03])
    out = final_output(b, b.y + errors[:, None])  # garbage (123) everywhere else
    assert task.wrong(out, b).tolist() == [abs(e) > 0.04 for e in errors.tolist()]
    assert task.max_wrong == (3 if type(task) is AddingTask else 15)


def test_temporal_order_needs_every_unit_within_0_3():
    task = TemporalOrderTask("6a")
    b = task.sample(4, gen(2))
    target = b.y.argmax(-1)
    final = torch.zeros(4, 4)
    for row, p_true in enumerate((0.75, 0.71, 0.69, 0.5)):
        p = torch.full((4,), (1 - p_true) / 3)  # the rest shared by the other 3 classes
        p[target[row]] = p_true
        final[row] = p.log()  # logits whose softmax is p
    assert task.wrong(final_output(b, final), b).tolist() == [False, False, True, True]
    # a unit of a wrong class at 0.31 fails even when the true class has the most mass
    p = torch.tensor([0.0, 0.0, 0.0, 0.0]) + 0.01
    p[target[0]], p[(target[0] + 1) % 4] = 0.67, 0.31
    final = torch.stack([p.log()] * 4)
    assert bool(task.wrong(final_output(b, final), b)[0])


def test_reber_criterion_requires_the_legal_symbols_on_top():
    legal = torch.tensor([[[1, 1, 0], [0, 1, 0]]], dtype=torch.bool)  # (B=1, T=2, O=3)
    good = torch.tensor([[[2.0, 1.0, 0.5], [0.0, 3.0, 1.0]]])
    tie = torch.tensor([[[2.0, 1.0, 1.0], [0.0, 3.0, 1.0]]])  # illegal ties a legal one
    late = torch.tensor([[[2.0, 1.0, 0.5], [0.0, 3.0, 4.0]]])  # step 2 wrong
    two = torch.tensor([2])
    assert legal_not_top(good, legal, two).tolist() == [False]
    assert legal_not_top(tie, legal, two).tolist() == [True]
    assert legal_not_top(late, legal, two).tolist() == [True]
    assert legal_not_top(late, legal, torch.tensor([1])).tolist() == [False]  # past the end


def test_reber_task_scores_a_perfect_and_a_forgetful_predictor():
    task = EmbeddedReberTask(seed=0)
    both = task.test_set(gen())
    perfect = both.legal.float() * 5.0  # legal symbols get logit 5, the others 0
    assert int(task.wrong(perfect, both).sum()) == 0
    forgetful = perfect.clone()
    for row in range(len(both)):  # before the final E, hedge between T and P
        forgetful[row, int(both.lengths[row]) - 2, 1:3] = 5.0
    assert int(task.wrong(forgetful, both).sum()) == len(both)


def test_long_lag_criterion_is_max_abs_error_below_0_25_at_every_step():
    task = LongLagTask(5)
    b = task.test_set(gen())
    hot = torch.nn.functional.one_hot(b.y, 6).float()  # (2, 5, 6)
    confident = (hot * 10).clone()
    assert task.wrong(confident, b).tolist() == [False, False]
    unsure = confident.clone()
    unsure[:, -1, 4:6] = 10.0  # last step: x and y equally likely, error 0.5
    assert task.wrong(unsure, b).tolist() == [True, True]
    p = 0.76  # the true symbol at 0.76, the other five share the rest: error 0.24 < 0.25
    logits = torch.where(hot.bool(), math.log(p), math.log((1 - p) / 5))
    assert task.wrong(logits, b).tolist() == [False, False]
    p = 0.74
    logits = torch.where(hot.bool(), math.log(p), math.log((1 - p) / 5))
    assert task.wrong(logits, b).tolist() == [True, True]


def test_copy_criterion_checks_only_the_recalled_symbols():
    task = CopyTask(delay=6, length=3)
    b = task.sample(3, gen(3))
    out = torch.nn.functional.one_hot(b.y, 10).float()
    out[:, :5] = torch.randn(3, 5, 10)  # noise before the recall does not count
    out[1, -2] = torch.nn.functional.one_hot(torch.tensor(0), 10).float() * 9  # blank
    assert task.wrong(out, b).tolist() == [False, True, False]
