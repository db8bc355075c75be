"""The benchmark's grid, report and command line (on made-up numbers: no timing here)."""

from __future__ import annotations

import json

import pytest

from lstmkit import cli
from lstmkit.bench import report, suite
from lstmkit.bench.timing import interleaved, machine


def fake_result():
    rows = []
    for point in suite.grid(quick=True):
        rows.append(
            {
                **point.__dict__,
                "flops": point.flops(),
                "seconds": {"fused": 0.01, "torch": 0.04, "reference": 0.2, "no-onednn": 0.1},
            }
        )
    scored = [r for r in rows if r["cell"] != "rnn"]  # the RNN has no goal
    scored[-1]["seconds"]["fused"] = 0.05  # one missed goal
    latency = {"torch LSTMCell call": 30e-6, "fused op alone (torch.ops.lstmkit.cell)": 8e-6}
    return {
        "date": "today",
        "quick": True,
        "machine": {"cpu": "test"},
        "sgemm_gflops": 100.0,
        "points": rows,
        "latency": latency,
        "cell_calls": [
            {"cell": c, "hidden": h, "seconds": {"torch": 20e-6, "fused": f}}
            for c, h, f in (("lstm", 64, 30e-6), ("lstm", 256, 10e-6), ("rnn", 64, 30e-6))
        ],
    }


def test_grid_covers_the_issue_grid():
    points = suite.grid()
    shapes = {(p.batch, p.hidden) for p in points}
    assert shapes == {(b, h) for b in (1, 8, 32, 128) for h in (64, 128, 256, 512)}
    long = {(p.batch, p.hidden) for p in points if p.steps == 1000}
    assert long == {(b, h) for b, h in shapes if b * h <= 2048}
    assert {p.cell for p in points} == {"lstm", "gru", "rnn"}
    assert {p.train for p in points} == {0, 1}
    assert not [p for p in points if p.cell == "rnn" and p.steps != 100]  # RNN: rules only


def test_flop_counts_follow_the_issue():
    lstm = suite.Point("lstm", 8, 128, 100, train=False)
    assert lstm.flops() == 8 * 8 * 128 * (128 + 128) * 100
    assert suite.Point("lstm", 8, 128, 100, train=True).flops() == 3 * lstm.flops()
    assert suite.Point("gru", 8, 128, 100, train=False).flops() == 0.75 * lstm.flops()
    assert suite.Point("rnn", 8, 128, 100, train=False).flops() == 0.25 * lstm.flops()


def test_markdown_reports_ratios_goals_and_peak():
    text = report.markdown(fake_result(), "lstmkit bench --quick")
    scored = [p for p in fake_result()["points"] if p["cell"] != "rnn"]
    assert f"Goals met at {len(scored) - 1} of {len(scored)} LSTM and GRU" in text
    assert "## RNN (tanh), forward, no_grad" in text
    assert "| 1 | 64 | 100 | 10.00 | 40.00 | 0.25 | - |" in text  # an RNN row: no goal
    assert "| 1 | 64 | 100 | 10.00 | 40.00 | 0.25 | <= 0.5 met | 5.00 | 2.50 | - |" in text
    assert "MISSED" in text and "SGEMM peak" in text and "| torch LSTMCell call | 30.0 |" in text


def test_rule_limits_stop_at_the_first_loss():
    rows = [
        {
            "cell": "lstm",
            "train": False,
            "steps": 100,
            "batch": b,
            "hidden": h,
            "seconds": {"fused": f, "torch": 1.0},
        }
        for b, h, f in ((1, 64, 0.2), (8, 64, 0.5), (8, 256, 1.2), (128, 512, 0.9), (32, 64, 0.5))
    ]
    rows += [{**r, "train": True, "seconds": {"fused": 0.5, "torch": 1.0}} for r in rows]
    limits = report.derive_limits(rows)
    # 8 x 256 lost: 32 x 64 (as large) and 128 x 512 do not count
    assert limits[("lstm", False)] == 8 * 64
    assert limits[("lstm", True)] == 2**62  # won everywhere
    assert ("gru", False) in limits


def test_one_step_rule_is_the_smallest_size_of_the_winning_run():
    def call(cell, hidden, fused):
        return {"cell": cell, "hidden": hidden, "seconds": {"torch": 1.0, "fused": fused}}

    calls = [call("lstm", 64, 1.2), call("lstm", 128, 0.8), call("lstm", 256, 0.7)]
    calls += [call("gru", 64, 0.5), call("gru", 256, 1.5), call("rnn", 64, 0.9)]
    assert report.derive_one_step(calls) == {"lstm": 128, "gru": None, "rnn": 64}
    text = report.markdown(fake_result(), "cmd")
    assert "| lstm | 256 | 20.0 | 10.0 | 0.50 |" in text
    assert "Smallest H from which fused wins: lstm: 256, rnn: None." in text


def test_save_writes_markdown_json_and_png(tmp_path):
    paths = report.save(fake_result(), tmp_path, "cmd")
    assert [p.name for p in paths] == ["RESULTS.md", "results.json", "bench_cpu.png"]
    assert json.loads(paths[1].read_text())["sgemm_gflops"] == 100.0
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interleaved_runs_each_function_at_least_min_reps():
    calls = {"a": 0, "b": 0}

    def count(name):
        def fn():
            calls[name] += 1

        return fn

    interleaved({"a": count("a"), "b": count("b")}, min_reps=4, max_reps=4, rounds=2)
    assert calls == {"a": 7, "b": 7}  # one timing call, then 2 blocks of (one uncounted + 2)


def test_interleaved_takes_blocks_in_turns():
    order = []
    fns = {name: (lambda name=name: order.append(name)) for name in "ab"}
    interleaved(fns, min_reps=4, max_reps=4, rounds=2)
    assert "".join(order) == "ab" + "aaa" + "bbb" + "aaa" + "bbb"


def test_machine_description_names_cpu_and_torch():
    info = machine()
    assert {"cpu", "cores", "torch", "simd flags"} <= set(info)


def test_cli_bench_options():
    args = cli.build_parser().parse_args(["bench", "--quick", "--out", "x"])
    assert args.quick and args.out == "x" and args.run is cli._bench
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bench", "--grid"])
