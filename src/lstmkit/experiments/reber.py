"""Experiment 1 of Hochreiter & Schmidhuber (1997): the embedded Reber grammar.

Definition (section 5.1, after Cleeremans et al. 1989 and Fahlman 1991). The Reber grammar
is the automaton below over the seven symbols B, T, P, S, X, V, E; where a state has two
edges, each is taken with probability 0.5::

    0 -B-> 1    1 -T-> 2   1 -P-> 3    2 -S-> 2   2 -X-> 4    3 -T-> 3   3 -V-> 5
    4 -X-> 3    4 -S-> 6   5 -P-> 4    5 -V-> 6   6 -E-> end

An embedded Reber string is B, then T or P, then a Reber string, then the same T or P
again, then E (e.g. ``BTBPVVETE``). The network reads a string one symbol at a time
(one-hot, 7 inputs) and predicts the next symbol at every step (7 outputs). To predict the
symbol before last it must remember the second symbol across the inner string.

Data: 256 training strings drawn at random (training sequences are picked at random from
them) and 256 test strings drawn at random, none of which is a training string.

Criterion: a string is predicted correctly when at every step the output units of the
possible next symbols (one or two) are the most active ones. A trial succeeds when every
string of both the training and the test set is predicted correctly: success here is 0
wrong of those 512 strings.

Paper (Table 1): LSTM 97-100 % of trials successful, after 8,440 to 39,740 training
sequences depending on architecture and learning rate; Elman nets trained by Elman's
procedure: 0 % (> 200,000); RTRL "some fraction"; Recurrent Cascade-Correlation 50 %.

Example:
    >>> import random
    >>> text, legal = embedded_reber(random.Random(1))
    >>> text[:2] + "..." + text[-2:] == text[:2] + "..." + text[1] + "E"
    True
    >>> legal[0], legal[1], legal[-1]   # after B: T or P; after the outer T/P: B; then E
    ('TP', 'B', 'E')
"""

from __future__ import annotations

import random

import torch
from torch import Tensor

from .base import IGNORE, Batch, Task, one_hot_sequence

SYMBOLS = "BTPSXVE"
INDEX = {s: i for i, s in enumerate(SYMBOLS)}
# state -> [(symbol, next state)], None ends the string
REBER = {
    0: [("B", 1)],
    1: [("T", 2), ("P", 3)],
    2: [("S", 2), ("X", 4)],
    3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)],
    5: [("P", 4), ("V", 6)],
    6: [("E", None)],
}


def reber(rng: random.Random) -> tuple[str, list[str]]:
    """A Reber string and, for each of its symbols, the symbols that may follow it."""
    state: int | None = 0
    text, legal = "", []
    while state is not None:
        edges = REBER[state]
        symbol, state = edges[rng.randrange(len(edges))]
        text += symbol
        if state is not None:
            legal.append("".join(s for s, _ in REBER[state]))
    return text, legal


def embedded_reber(rng: random.Random) -> tuple[str, list[str]]:
    """An embedded Reber string and the legal next symbols after each symbol but the last."""
    outer = "TP"[rng.randrange(2)]
    inner, inner_legal = reber(rng)
    text = "B" + outer + inner + outer + "E"
    legal = ["TP", "B", *inner_legal, outer, "E"]  # inner E is followed by the outer letter
    return text, legal


def encode(strings: list[tuple[str, list[str]]]) -> Batch:
    """Inputs (every symbol but the last), next-symbol targets and legal-next masks."""
    n, longest = len(strings), max(len(t) for t, _ in strings) - 1
    symbols = torch.full((n, longest), -1, dtype=torch.long)
    targets = torch.full((n, longest), IGNORE, dtype=torch.long)
    legal = torch.zeros(n, longest, len(SYMBOLS), dtype=torch.bool)
    for row, (text, allowed) in enumerate(strings):
        codes = torch.tensor([INDEX[s] for s in text])
        symbols[row, : len(text) - 1] = codes[:-1]
        targets[row, : len(text) - 1] = codes[1:]
        for step, options in enumerate(allowed):
            legal[row, step, [INDEX[s] for s in options]] = True
    lengths = torch.tensor([len(t) - 1 for t, _ in strings])
    return Batch(one_hot_sequence(symbols, len(SYMBOLS)), lengths, targets, legal)


class EmbeddedReberTask(Task):
    """The embedded Reber grammar with fixed training and test strings drawn from ``seed``."""

    name, input_size, output_size, kind = "embedded Reber", 7, 7, "step_class"
    train_size, test_size, max_wrong = 256, 256, 0

    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(seed)
        train = [embedded_reber(rng) for _ in range(self.train_size)]
        seen = {text for text, _ in train}
        test: list[tuple[str, list[str]]] = []
        while len(test) < self.test_size:
            pair = embedded_reber(rng)
            if pair[0] not in seen:
                test.append(pair)
        self.train_strings = [t for t, _ in train]
        self.test_strings = [t for t, _ in test]
        self.train, self.both = encode(train), encode(train + test)

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        pick = torch.randint(0, self.train_size, (n,), generator=generator)
        steps = int(self.train.lengths[pick].max())
        b = self.train
        return Batch(b.x[pick, :steps], b.lengths[pick], b.y[pick, :steps], b.legal[pick, :steps])

    def test_set(self, generator: torch.Generator) -> Batch:
        """All 512 strings: the paper requires both sets to be predicted correctly."""
        return self.both

    def wrong(self, out: Tensor, batch: Batch) -> Tensor:
        assert batch.legal is not None
        return legal_not_top(out, batch.legal, batch.lengths)


def legal_not_top(out: Tensor, legal: Tensor, lengths: Tensor) -> Tensor:
    """(B,) bool: at some valid step an illegal symbol is at least as active as a legal one."""
    lowest_legal = out.masked_fill(~legal, float("inf")).amin(-1)  # (B, T)
    highest_illegal = out.masked_fill(legal, float("-inf")).amax(-1)  # (B, T)
    valid = torch.arange(out.shape[1]) < lengths.unsqueeze(1)  # (B, T)
    return ((highest_illegal >= lowest_legal) & valid).any(-1)
