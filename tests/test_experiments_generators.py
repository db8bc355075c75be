"""The experiments' data generators against the paper's definitions, checked in plain Python."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict

import pytest
import torch

from lstmkit.experiments.adding import AddingTask, marked_pairs
from lstmkit.experiments.copy import CopyTask
from lstmkit.experiments.long_lag import LongLagTask
from lstmkit.experiments.multiplication import MultiplicationTask
from lstmkit.experiments.reber import SYMBOLS as REBER_SYMBOLS
from lstmkit.experiments.reber import EmbeddedReberTask, embedded_reber
from lstmkit.experiments.temporal_order import SYMBOLS, TemporalOrderTask


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same_batch(a, b) -> bool:
    return all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("x", "lengths", "y"))


# -- adding and multiplication (experiments 4 and 5) -------------------------------------------


def check_marked_sequence(values, markers, length, steps, first_value):
    """The paper's marker layout for one sequence; returns (X1, X2) in position order."""
    assert steps <= length <= steps + steps // 10
    assert all(v == 0 and m == 0 for v, m in zip(values[length:], markers[length:], strict=True))
    marked = [t for t in range(length) if markers[t] == 1.0]
    assert len(marked) == 2
    assert marked[0] < 10 and marked[1] < steps // 2  # one of the first ten; one in [0, T/2)
    assert markers[length - 1] == -1.0
    assert markers[0] == (1.0 if 0 in marked else -1.0)
    others = [markers[t] for t in range(1, length - 1) if t not in marked]
    assert all(m == 0.0 for m in others)
    if 0 in marked:
        assert values[0] == first_value
    return [values[t] for t in marked]


@pytest.mark.parametrize("steps", [20, 100])
def test_adding_targets_layout_and_value_range(steps):
    task = AddingTask(steps)
    b = task.sample(300, gen(1))
    longest = steps + steps // 10
    assert b.x.shape == (300, longest, 2) and b.y.shape == (300, 1) and b.lengths.shape == (300,)
    for i in range(300):
        values, markers = b.x[i, :, 0].tolist(), b.x[i, :, 1].tolist()
        x1, x2 = check_marked_sequence(values, markers, int(b.lengths[i]), steps, 0.0)
        assert abs(0.5 + (x1 + x2) / 4.0 - float(b.y[i, 0])) < 1e-6
    valid = b.x[..., 0][torch.arange(longest) < b.lengths[:, None]]
    assert valid.min() >= -1 and valid.max() <= 1 and valid.min() < -0.9 and valid.max() > 0.9
    assert same_batch(b, task.sample(300, gen(1)))
    assert not same_batch(b, task.sample(300, gen(2)))


def test_adding_marker_positions_cover_the_paper_ranges():
    x, lengths, _ = marked_pairs(4000, 40, -1.0, 0.0, gen(3))
    firsts, seconds = Counter(), Counter()
    for row in x[..., 1]:
        a, b = (row == 1).nonzero().flatten().tolist()
        first_is_a = a < 10  # which mark is X1 is not stored; count both positions
        firsts[a if first_is_a else b] += 1
        seconds[b] += 1
    assert set(firsts) <= set(range(10)) and len(firsts) == 10
    assert set(seconds) <= set(range(20)) and max(seconds) == 19
    assert set(lengths.tolist()) == set(range(40, 45))  # T .. T + T/10, all reached


def test_multiplication_targets_are_products_and_first_pair_is_one():
    task = MultiplicationTask(20)
    b = task.sample(400, gen(4))
    seen_first_marked = 0
    for i in range(400):
        values, markers = b.x[i, :, 0].tolist(), b.x[i, :, 1].tolist()
        x1, x2 = check_marked_sequence(values, markers, int(b.lengths[i]), 20, 1.0)
        assert abs(x1 * x2 - float(b.y[i, 0])) < 1e-6
        seen_first_marked += markers[0] == 1.0
    assert seen_first_marked > 0  # the rare case does occur and is handled
    assert b.x[..., 0].min() >= 0 and task.max_wrong == 15
    assert same_batch(b, task.sample(400, gen(4)))


@pytest.mark.parametrize("steps", [19, 0, 20.0, True])
def test_adding_rejects_bad_lengths(steps):
    with pytest.raises(ValueError, match=rf"T: expected an integer >= 20, got {steps!r}"):
        AddingTask(steps)


# -- temporal order (experiment 6) -------------------------------------------------------------

RULES_6A = {"XX": "Q", "XY": "R", "YX": "S", "YY": "U"}
RULES_6B = {
    "XXX": "Q", "XXY": "R", "XYX": "S", "XYY": "U",
    "YXX": "V", "YXY": "A", "YYX": "B", "YYY": "C",
}  # fmt: skip
CLASSES = {"6a": "QRSU", "6b": "QRSUVABC"}
WINDOWS = {"6a": [(10, 20), (50, 60)], "6b": [(10, 20), (33, 43), (66, 76)]}


@pytest.mark.parametrize(("variant", "rules"), [("6a", RULES_6A), ("6b", RULES_6B)])
def test_temporal_order_sequences_and_classes(variant, rules):
    task = TemporalOrderTask(variant)
    b = task.sample(300, gen(5))
    assert b.x.shape == (300, 110, 8) and b.y.shape == (300, len(rules))
    seen = set()
    for i in range(300):
        n = int(b.lengths[i])
        assert 100 <= n <= 110
        assert torch.all(b.x[i, :n].sum(-1) == 1) and torch.all(b.x[i, n:] == 0)  # one-hot
        text = "".join(SYMBOLS[int(k)] for k in b.x[i, :n].argmax(-1))
        assert text[0] == "E" and text[-1] == "B"
        relevant = [t for t, s in enumerate(text) if s in "XY"]
        assert len(relevant) == len(WINDOWS[variant])
        for t, (low, high) in zip(relevant, WINDOWS[variant], strict=True):
            assert low <= t <= high
        assert set(text[1:-1]) - set("XY") <= set("abcd")
        order = "".join(text[t] for t in relevant)
        label = CLASSES[variant][int(b.y[i].argmax())]
        assert label == rules[order] and float(b.y[i].sum()) == 1.0
        seen.add(label)
    assert seen == set(rules.values())
    assert same_batch(b, task.sample(300, gen(5)))


def test_temporal_order_rejects_unknown_variant():
    with pytest.raises(ValueError, match="variant: expected '6a' or '6b', got '6c'"):
        TemporalOrderTask("6c")


# -- embedded Reber grammar (experiment 1) -----------------------------------------------------

# The Reber grammar as a regular expression, derived by hand from the transition diagram
# (independently of the automaton in the module); the embedded grammar repeats the outer
# T or P by a back-reference.
REBER_RE = r"(?:TS*X(?:XT*VP)*(?:XT*VV|S)|PT*V(?:P(?:XT*VP)*(?:XT*VV|S)|V))E"
EMBEDDED = re.compile(r"B([TP])B" + REBER_RE + r"\1E")


def test_regex_oracle_accepts_known_reber_strings_and_rejects_others():
    reber = re.compile("B" + REBER_RE)
    for good in ["BTSSXXTVVE", "BPVVE", "BTXXVPSE", "BPVPXVPXVPXVVE", "BTSXXVPSE"]:
        assert reber.fullmatch(good), good
    for bad in ["BTSSPXSE", "BPTVVB", "BTXXVVSE", "BPVSPSE", "BTSSSE"]:
        assert not reber.fullmatch(bad), bad


def test_embedded_reber_strings_are_in_the_grammar_and_legal_sets_match_branching():
    rng = random.Random(0)
    strings = [embedded_reber(rng) for _ in range(3000)]
    observed = defaultdict(set)
    for text, legal in strings:
        assert EMBEDDED.fullmatch(text), text
        assert len(legal) == len(text) - 1
        for t in range(len(text) - 1):
            assert text[t + 1] in legal[t]
            observed[text[: t + 1]].add(text[t + 1])
    counts = Counter(text[: t + 1] for text, _ in strings for t in range(len(text) - 1))
    checked = 0
    for text, legal in strings[:300]:
        for t in range(len(text) - 1):
            if counts[text[: t + 1]] >= 40:  # both branches are then seen almost surely
                assert set(legal[t]) == observed[text[: t + 1]], (text, t)
                checked += 1
    assert checked > 1000
    assert {len(t) for t, _ in strings} >= set(range(9, 20))  # shortest string: 9 symbols


def test_reber_task_sets_encoding_and_sampling():
    task = EmbeddedReberTask(seed=3)
    assert len(task.train_strings) == len(task.test_strings) == 256
    assert not set(task.test_strings) & set(task.train_strings)
    both = task.test_set(gen())
    assert len(both) == 512 and both.x.shape[-1] == 7
    for i, text in enumerate(task.train_strings + task.test_strings):
        n = int(both.lengths[i])
        assert n == len(text) - 1
        assert "".join(REBER_SYMBOLS[k] for k in both.x[i, :n].argmax(-1)) == text[:-1]
        assert "".join(REBER_SYMBOLS[k] for k in both.y[i, :n]) == text[1:]
        assert torch.all(both.y[i, n:] == -100) and torch.all(both.x[i, n:] == 0)
        legal = both.legal[i, :n]  # (n, 7)
        assert legal[torch.arange(n), both.y[i, :n]].all()  # the true next symbol is legal
        assert set(legal.sum(-1).tolist()) <= {1, 2}
        outer = REBER_SYMBOLS.index(text[1])
        assert legal[n - 2].tolist() == [k == outer for k in range(7)]  # needs the memory
    b = task.sample(64, gen(1))
    assert set(_decode(b)) <= set(task.train_strings)
    assert same_batch(b, task.sample(64, gen(1)))
    assert EmbeddedReberTask(seed=3).train_strings == task.train_strings
    assert EmbeddedReberTask(seed=4).train_strings != task.train_strings


def _decode(b) -> list[str]:
    out = []
    for i in range(len(b)):
        n = int(b.lengths[i])
        body = "".join(REBER_SYMBOLS[k] for k in b.x[i, :n].argmax(-1))
        out.append(body + REBER_SYMBOLS[int(b.y[i, n - 1])])
    return out


# -- noise-free long time lag (experiment 2a) and copy -----------------------------------------


def test_long_lag_sequences_are_the_two_of_the_paper():
    p = 100
    task = LongLagTask(p)
    b = task.sample(50, gen(6))
    assert b.x.shape == (50, p, p + 1) and b.y.shape == (50, p)
    firsts = set()
    for i in range(50):
        symbols = [*b.x[i].argmax(-1).tolist(), int(b.y[i, -1])]  # all p + 1 symbols
        first = symbols[0]
        assert first in (p - 1, p)  # x = a_p (index p - 1) or y = a_{p+1} (index p)
        assert symbols == [first, *range(p - 1), first]
        assert b.y[i].tolist() == symbols[1:]
        firsts.add(first)
    assert firsts == {p - 1, p}
    assert same_batch(b, task.sample(50, gen(6)))
    assert len(task.test_set(gen())) == 2


def test_long_lag_rejects_bad_p():
    with pytest.raises(ValueError, match="p: expected an integer >= 2, got 1"):
        LongLagTask(1)


def test_copy_targets_repeat_the_data_after_the_delimiter():
    task = CopyTask(delay=30, length=10)
    b = task.sample(40, gen(7))
    assert b.x.shape == (40, 50, 10) and b.y.shape == (40, 50)
    for i in range(40):
        inputs = b.x[i].argmax(-1).tolist()
        data = inputs[:10]
        assert all(1 <= s <= 8 for s in data)
        assert inputs[10:] == [0] * 29 + [9] + [0] * 10
        assert b.y[i].tolist() == [0] * 40 + data
    assert same_batch(b, task.sample(40, gen(7)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"delay": 0}, "delay: expected an integer >= 1, got 0"),
    ({"length": "3"}, "length: expected an integer >= 1, got '3'"),
])  # fmt: skip
def test_copy_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        CopyTask(**kwargs)
