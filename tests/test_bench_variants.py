"""The benchmark's variants section: grid, table and report (made-up numbers, no timing)."""

from __future__ import annotations

from lstmkit.bench import report, variants
from lstmkit.ops.spec import RNNSpec


def _row(name: str, train: bool, fused: float) -> dict:
    return {
        "variant": name,
        "batch": 8,
        "hidden": 128,
        "steps": 100,
        "train": train,
        "impl": "fused",
        "seconds": {"fused": fused, "loop": 0.1, "torch": 0.01},
    }


def test_grid_has_every_variant_at_the_issue_shapes():
    points = variants.variant_grid()
    assert {p.variant for p in points} == set(variants.VARIANTS)
    assert {(p.batch, p.hidden, p.steps) for p in points} == {
        (b, h, 100) for b in (8, 32) for h in (128, 256)
    }
    assert {p.train for p in points} == {False, True}
    quick = variants.variant_grid(quick=True)
    assert len(quick) < len(points) and {p.variant for p in quick} <= set(variants.VARIANTS)


def test_every_variant_is_a_valid_configuration():
    for options in variants.VARIANTS.values():
        spec_options = {k: v for k, v in options.items() if k not in ("train", "gru")}
        mode = "gru" if options.get("gru") else "lstm"
        assert RNNSpec(mode, 4, 4, **spec_options).variant_options()


def test_table_marks_the_goal_met_or_missed():
    rows = [_row("peephole", False, 0.012), _row("CIFG", True, 0.02)]
    text = variants.variant_table(rows)
    assert "| peephole | 8 | 128 | fused | 12.00 | 100.00 | 10.00 | 1.20 | met | 8.33 |" in text
    assert "| 2.00 | MISSED |" in text


def test_results_markdown_has_the_variants_section():
    result = {
        "date": "today",
        "quick": True,
        "machine": {"cpu": "test"},
        "sgemm_gflops": 100.0,
        "points": [],
        "latency": {},
        "variants": [_row("peephole", False, 0.012), _row("NIG", True, 0.05)],
    }
    text = report.markdown(result, "lstmkit bench --quick")
    assert "## LSTM variants" in text and "Goal met at 1 of 2 points." in text
    assert "### Variants, forward, no_grad" in text and "### Variants, forward + backward" in text
    assert "## LSTM variants" not in report.markdown(result | {"variants": []}, "x")
