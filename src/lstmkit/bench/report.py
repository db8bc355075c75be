"""Writing the benchmark results: markdown tables (RESULTS.md), JSON and a PNG plot.

Example:
    >>> row = {"cell": "lstm", "batch": 8, "hidden": 128, "steps": 100, "train": False,
    ...        "flops": 2e9, "seconds": {"fused": 0.01, "torch": 0.02}}
    >>> goal(row)
    0.5
    >>> table([row], peak=100.0).splitlines()[2].split("|")[1:6]
    [' 8 ', ' 128 ', ' 100 ', ' 10.00 ', ' 20.00 ']
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .suite import CELLS, IMPLS, SMALL
from .variants import variant_markdown

OTHERS = ("reference", "no-onednn", "cell-loop")


def goal(row: dict) -> float | None:
    """The target time ratio fused / torch: 0.5 where B * H <= 2048, else 1.0 (LSTM and GRU;
    the Elman RNN has none)."""
    if row["cell"] == "rnn":
        return None
    return 0.5 if row["batch"] * row["hidden"] <= SMALL else 1.0


def _ratio(row: dict, impl: str) -> float | None:
    s = row["seconds"]
    return s[impl] / s["torch"] if impl in s else None


def table(rows: list[dict], peak: float) -> str:
    """One markdown table: times (ms), ratios to torch, fused GFLOP/s and % of SGEMM peak."""
    head = (
        "| B | H | T | fused ms | torch ms | fused/torch | goal | "
        + " | ".join(f"{o}/torch" for o in OTHERS)
        + " | fused GFLOP/s | fused % peak | torch GFLOP/s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = r["seconds"]
        fused_rate, torch_rate = r["flops"] / s["fused"] / 1e9, r["flops"] / s["torch"] / 1e9
        ratio, target = _ratio(r, "fused"), goal(r)
        others = [f"{x:.2f}" if (x := _ratio(r, o)) is not None else "-" for o in OTHERS]
        cells = [
            str(r["batch"]),
            str(r["hidden"]),
            str(r["steps"]),
            f"{s['fused'] * 1e3:.2f}",
            f"{s['torch'] * 1e3:.2f}",
            f"{ratio:.2f}",
            "-" if target is None else f"<= {target} {'met' if ratio <= target else 'MISSED'}",
            *others,
            f"{fused_rate:.1f}",
            f"{100 * fused_rate / peak:.0f}%",
            f"{torch_rate:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def derive_limits(rows: list[dict]) -> dict[tuple[str, bool], int]:
    """For lstmkit.ops.rules: per (cell, grad) the largest B * H up to which fused beat torch
    at every measured point (T = 100); 0 where it did not even at the smallest."""
    limits = {}
    for cell in CELLS:
        for train in (False, True):
            part = sorted(
                (r["batch"] * r["hidden"], _ratio(r, "fused"))
                for r in rows
                if r["cell"] == cell and r["train"] == train and r["steps"] == 100
            )
            lost = [size for size, ratio in part if ratio >= 1.0]
            if part and not lost:
                limits[(cell, train)] = 2**62  # faster everywhere measured (rules.EVERYWHERE)
                continue
            # Every point of a size counts: one loss at a size rules the whole size out.
            below = [size for size, _ in part if size < min(lost)] if lost else []
            limits[(cell, train)] = max(below, default=0)
    return limits


def derive_one_step(calls: list[dict]) -> dict[str, int | None]:
    """For lstmkit.ops.rules.ONE_STEP_MIN_HIDDEN: per cell the smallest measured hidden size
    from which the fused cell call beat torch's at every larger one; None where at none."""
    found: dict[str, int | None] = {}
    for cell in dict.fromkeys(r["cell"] for r in calls):
        least = None
        for r in sorted((r for r in calls if r["cell"] == cell), key=lambda r: -r["hidden"]):
            if r["seconds"]["fused"] >= r["seconds"]["torch"]:
                break
            least = r["hidden"]
        found[cell] = least
    return found


def cell_call_markdown(calls: list[dict]) -> list[str]:
    if not calls:
        return []
    out = [
        "## Cell calls at B = 1 (no_grad)",
        "",
        "One step of lstmkit's cell (impl='fused') beside torch.nn's, interleaved; the input of",
        "`ONE_STEP_MIN_HIDDEN` in `src/lstmkit/ops/rules.py`.",
        "",
        "| cell | H | torch us | fused us | fused/torch |",
        "|---|---|---|---|---|",
    ]
    for r in calls:
        t, f = r["seconds"]["torch"], r["seconds"]["fused"]
        out.append(f"| {r['cell']} | {r['hidden']} | {t * 1e6:.1f} | {f * 1e6:.1f} | {f / t:.2f} |")
    rules = ", ".join(f"{c}: {v}" for c, v in derive_one_step(calls).items())
    return [*out, "", f"Smallest H from which fused wins: {rules}.", ""]


def markdown(result: dict, command: str) -> str:
    """The whole RESULTS.md text."""
    rows, peak = result["points"], result["sgemm_gflops"]
    out = [
        "# CPU benchmark: lstmkit fused kernels beside torch.nn",
        "",
        f"Measured {result['date']} with `{command}` (all numbers from this one run).",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in result["machine"].items()],
        f"- SGEMM peak (2048 x 2048 float32, all threads, same run): {peak:.1f} GFLOP/s",
        "",
        "Times are medians of calls in interleaved blocks (I = H, float32, one layer). Ratios are",
        "time / torch.nn time: below 1 is faster than torch. GFLOP/s count the matrix",
        "products: 2 * B * G*H * (I + H) per step (G = 4 for LSTM, 3 for GRU, 1 for RNN), three",
        "times that with the backward pass. *goal*: fused / torch <= 0.5 where B * H <= 2048,",
        "else <= 1.0.",
        "",
    ]
    scored = [r for r in rows if goal(r) is not None]
    met = sum(_ratio(r, "fused") <= goal(r) for r in scored)
    out += [f"Goals met at {met} of {len(scored)} LSTM and GRU grid points.", ""]
    for cell in CELLS:
        for train in (False, True):
            part = [r for r in rows if r["cell"] == cell and r["train"] == train]
            if part:
                what = "forward + backward" if train else "forward, no_grad"
                name = "RNN (tanh)" if cell == "rnn" else cell.upper()
                out += [f"## {name}, {what}", "", table(part, peak), ""]
    out += [
        "## Rules for impl='auto' derived from this run",
        "",
        "Largest B * H up to which fused beat torch.nn at every point (T = 100), the input of",
        "`FLOAT32_LIMITS` in `src/lstmkit/ops/rules.py`:",
        "",
        *[
            f"- {c} {'train' if t else 'forward'}: {'everywhere' if v >= 2**62 else v}"
            for (c, t), v in derive_limits(rows).items()
        ],
        "",
    ]
    out += variant_markdown(result.get("variants", []))
    out += cell_call_markdown(result.get("cell_calls", []))
    out += ["## One step at B = 1, H = 256 (no_grad)", "", "| what | microseconds |", "|---|---|"]
    lat = result["latency"]
    out += [f"| {k} | {v * 1e6:.1f} |" for k, v in lat.items()]
    ours, theirs = lat.get("lstmkit LSTMCell(impl='fused') call"), lat.get("torch LSTMCell call")
    if ours and theirs:
        out += ["", f"lstmkit call / torch call: {ours / theirs:.2f} (goal <= 0.33)"]
    return "\n".join(out) + "\n"


def plot(result: dict, path: Path) -> None:
    """Ratios to torch.nn at T = 100 for each cell and mode, one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in CELLS if any(r["cell"] == c for r in result["points"])]
    fig, axes = plt.subplots(
        len(cells), 2, figsize=(12, 4 * len(cells)), sharey=True, squeeze=False
    )
    panels = [(c, t) for c in cells for t in (0, 1)]
    for ax, (cell, train) in zip(axes.flat, panels, strict=True):
        rows = [
            r
            for r in result["points"]
            if r["cell"] == cell and r["train"] == bool(train) and r["steps"] == 100
        ]
        labels = [f"{r['batch']}x{r['hidden']}" for r in rows]
        for impl in IMPLS[:1] + OTHERS:
            ax.plot(labels, [_ratio(r, impl) for r in rows], marker="o", label=impl)
        ax.axhline(1.0, color="k", lw=1)
        ax.axhline(0.5, color="k", lw=1, ls="--")
        ax.set_yscale("log")
        ax.set_title(f"{cell.upper()} {'forward + backward' if train else 'forward'}, T = 100")
        ax.set_xlabel("B x H")
        ax.tick_params(axis="x", rotation=60)
    for ax in axes[:, 0]:
        ax.set_ylabel("time / torch.nn time")
    axes[0, 0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(result: dict, out_dir: Path, command: str) -> list[Path]:
    """Write RESULTS.md, results.json and bench_cpu.png into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "RESULTS.md", out_dir / "results.json", out_dir / "bench_cpu.png"]
    paths[0].write_text(markdown(result, command), encoding="utf-8")
    paths[1].write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot(result, paths[2])
    return paths


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
