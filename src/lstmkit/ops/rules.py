"""When ``impl="auto"`` takes the fused kernels over torch's: rules read off the benchmark.

The rules look only at the configuration and the shapes of the call (mode, B, H, T, dtype,
whether a backward pass follows), never at a timing. They summarise
``benchmarks/RESULTS.md`` (``python benchmarks/bench_cpu.py``), whose section "Rules for
impl='auto'" prints the limits one run supports; re-derive them when the kernels change.

The present limits come from the run in benchmarks/RESULTS.md (2-core AMD EPYC): the GRU
and the Elman RNN are faster than torch's at every measured shape (torch has no oneDNN path
for them); the LSTM up to B * H = 2048, forward and with a backward pass (a size counts
only when fused won at every point of it). Above 2048 fused wins at most points but not at
all (fused / torch.nn.LSTM 0.85-1.07 forward, 0.65-1.02 with the backward pass; the points
over 1.0 move between runs: the run before, with the same LSTM kernels, had three forward,
at B = 8, H = 512 and B = 32, H = 256 and 512, and one with the backward pass, B = 8,
H = 512), and the rule keeps torch's oneDNN kernel. A single step (a cell call)
without a backward pass has rules of its own, from the benchmark's cell calls: in this run
the fused LSTM, GRU and Elman cells won at every measured hidden size (H = 16, 64, 256;
0.22-0.39 of torch.nn's cell's time). A cell call that autograd records goes to torch.nn's
cell: the benchmark does not measure it, and ten LSTM steps with the backward pass took
0.90-1.31 of torch's time at H = 64 and 256 in runs of ``benchmarks/cell_calls.py``.

Example:
    >>> prefer_fused("lstm", batch=1, hidden=64, steps=100, dtype=torch.float32, grad=False)
    True
    >>> prefer_fused("gru", batch=8, hidden=128, steps=100, dtype=torch.float32, grad=True)
    True
    >>> prefer_fused("lstm", batch=32, hidden=256, steps=100, dtype=torch.float32, grad=False)
    False
    >>> prefer_fused("lstm", batch=8, hidden=128, steps=100, dtype=torch.float16, grad=False)
    False
    >>> prefer_fused("gru", batch=1, hidden=256, steps=1, dtype=torch.float32, grad=False)
    True
    >>> prefer_fused("gru", batch=1, hidden=256, steps=1, dtype=torch.float32, grad=True)
    False
"""

from __future__ import annotations

import torch

# float64: torch has no fused CPU kernel for double (oneDNN is float32 / bfloat16 only), so
# the fused kernels are faster at every measured shape.
# float32: (mode, grad) -> largest B * H where fused is faster than torch.nn.
EVERYWHERE = 2**62
FLOAT32_LIMITS: dict[tuple[str, bool], int] = {
    ("lstm", False): 2048,
    ("lstm", True): 2048,
    ("gru", False): EVERYWHERE,
    ("gru", True): EVERYWHERE,
    ("rnn", False): EVERYWHERE,
    ("rnn", True): EVERYWHERE,
}


# One step (a cell call, T = 1) of at most ONE_STEP_MAX_BATCH rows, float32: mode -> the
# smallest hidden size from which the fused cell call beat torch.nn's at every measured size
# (the benchmark's cell-call table, B = 1, no_grad); None where it beat it at none. Below
# it, the call's fixed costs decide, and torch.nn's cell has fewer. More rows, or a call
# that autograd records: torch.nn's cell.
ONE_STEP_MAX_BATCH = 4
ONE_STEP_MIN_HIDDEN: dict[str, int | None] = {"lstm": 16, "gru": 16, "rnn": 16}


def prefer_fused(
    mode: str, batch: int, hidden: int, steps: int, dtype: torch.dtype, grad: bool
) -> bool:
    """True where the benchmark shows the fused kernels faster than torch's (native)."""
    if dtype == torch.float64:
        return True
    if dtype != torch.float32:
        return False
    if steps == 1:
        least = ONE_STEP_MIN_HIDDEN[mode]
        small = batch <= ONE_STEP_MAX_BATCH and least is not None and hidden >= least
        return small and not grad  # measured without a backward pass only
    return batch * hidden <= FLOAT32_LIMITS[(mode, grad)]
