"""When ``impl="auto"`` takes the fused kernels over torch's: rules read off the benchmark.

The rules look only at the configuration and the shapes of the call (mode, B, H, T, dtype,
whether a backward pass follows), never at a timing. They summarise
``benchmarks/RESULTS.md`` (``python benchmarks/bench_cpu.py``); re-derive them when the
kernels change.

Example:
    >>> prefer_fused("lstm", batch=8, hidden=128, steps=100, dtype=torch.float32, grad=False)
    True
    >>> prefer_fused("lstm", batch=8, hidden=128, steps=100, dtype=torch.float16, grad=False)
    False
"""

from __future__ import annotations

import torch

# float64: torch has no fused CPU kernel for double (oneDNN is float32 / bfloat16 only), so
# the fused kernels are faster at every measured shape.
# float32: (mode, grad) -> largest B * H where fused is faster than torch.nn.
FLOAT32_LIMITS: dict[tuple[str, bool], int] = {
    ("lstm", False): 2**62,
    ("lstm", True): 2**62,
    ("gru", False): 2**62,
    ("gru", True): 2**62,
    ("rnn", False): 2**62,
    ("rnn", True): 2**62,
}


def prefer_fused(
    mode: str, batch: int, hidden: int, steps: int, dtype: torch.dtype, grad: bool
) -> bool:
    """True where the benchmark shows the fused kernels faster than torch's (native)."""
    if dtype == torch.float64:
        return True
    if dtype != torch.float32:
        return False
    return batch * hidden <= FLOAT32_LIMITS[(mode, grad)]
