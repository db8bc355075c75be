"""Training until success, the networks, the runner's files and table, and the command line."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lstmkit.cli import main
from lstmkit.experiments import EXPERIMENTS, TrainConfig, parse_cell, train
from lstmkit.experiments.adding import AddingTask
from lstmkit.experiments.models import Cell, SequenceModel, chrono_init_
from lstmkit.experiments.runner import (
    experiment_rows,
    load_result,
    result_path,
    results_table,
    run_experiment,
    summarize,
)


def test_lstm_solves_the_adding_problem_with_t_20():
    """The paper's criterion (<= 3 of 2560 wrong by more than 0.04) met in a short run."""
    config = TrainConfig(lr=1e-2, chrono=20, check_every=1000, budget=40_000)
    result = train(AddingTask(20), parse_cell("lstm"), config, seed=0, quiet=True)
    assert result.solved and result.wrong <= 3 and result.test_size == 2560
    assert result.sequences == result.seen == result.history[-1][0]
    assert result.sequences % 32 == 0 or result.sequences % 1000 < 32
    assert all(w > 3 for _, w, _ in result.history[:-1])  # it stopped at the first success


def test_a_run_that_cannot_learn_fails_at_its_budget():
    config = TrainConfig(lr=1e-9, batch_size=8, check_every=16, budget=40)
    result = train(AddingTask(20), parse_cell("rnn"), config, seed=1, quiet=True)
    assert not result.solved and result.sequences is None
    assert result.seen == 40 and [h[0] for h in result.training] == [16, 32, 40]
    assert [h[0] for h in result.history] == [40]  # far from success: scored at the end only
    assert all(share > config.test_below for _, share, _ in result.training)


def test_the_test_set_is_scored_at_every_check_when_allowed():
    config = TrainConfig(lr=1e-9, batch_size=8, check_every=16, budget=40, test_below=1.0)
    result = train(AddingTask(20), parse_cell("rnn"), config, seed=1, quiet=True)
    assert [h[0] for h in result.history] == [16, 32, 40]
    assert all(w == result.wrong for _, w, _ in result.history[-1:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size: expected a positive integer, got 0"),
        ({"budget": 2.5}, "budget: expected a positive integer, got 2.5"),
        ({"lr": 0}, "lr: expected a positive number, got 0"),
        ({"decay": 1.5}, "decay: expected a number in (0, 1], got 1.5"),
        ({"tune_below": -1}, "tune_below: expected a number in [0, 1], got -1"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):  # fmt: skip
        TrainConfig(**kwargs)


# -- cells and networks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cell"),
    [("lstm", Cell("lstm")), ("gru", Cell("gru")), ("rnn", Cell("rnn")),
     ("elman", Cell("elman")), ("lstm:NIG", Cell("lstm", "NIG"))],
)  # fmt: skip
def test_parse_cell(text, cell):
    assert parse_cell(text) == cell and cell.label == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lstmm", "cell: expected 'lstm', 'gru', 'rnn', 'elman' or 'lstm:ABLATION' "
                  "(e.g. 'lstm:NIG'), got 'lstmm'"),
        ("gru:NIG", "cell: only the LSTM has ablations ('lstm:NAME'), got 'gru:NIG'"),
        ("lstm:", "cell: expected an ablation name after 'lstm:', got 'lstm:'"),
    ],
)  # fmt: skip
def test_parse_cell_errors(text, message):
    with pytest.raises(ValueError) as info:
        parse_cell(text)
    assert str(info.value) == message


def test_parse_cell_type_error():
    with pytest.raises(TypeError, match="cell: expected a string, got int"):
        parse_cell(3)


def test_ablation_name_is_passed_through_to_the_lstm(monkeypatch):
    seen = {}

    class Recorder(torch.nn.LSTM):
        def __init__(self, *args, ablation=None, **kwargs):
            seen["ablation"] = ablation
            super().__init__(*args, **kwargs)

    monkeypatch.setitem(SequenceModel.__init__.__globals__["LAYERS"], "lstm", Recorder)
    SequenceModel(parse_cell("lstm:NFG"), 2, 4, 1)
    assert seen["ablation"] == "NFG"


def test_ablation_unknown_to_this_lstm_gives_a_clear_error(monkeypatch):
    def no_ablation(input_size, hidden_size, batch_first=False):
        raise AssertionError("not reached")

    monkeypatch.setitem(SequenceModel.__init__.__globals__["LAYERS"], "lstm", no_ablation)
    with pytest.raises(ValueError, match=r"cell: 'lstm:NIG' needs lstmkit.nn.LSTM\(ablation="):
        SequenceModel(parse_cell("lstm:NIG"), 2, 4, 1)


def test_sequence_model_matches_torch_modules_with_the_same_weights():
    torch.manual_seed(0)
    model = SequenceModel(parse_cell("lstm"), 3, 5, 2, skip=True)
    ref = torch.nn.LSTM(3, 5, batch_first=True)
    ref.load_state_dict(model.rnn.state_dict())
    x = torch.randn(4, 7, 3)
    h, _ = ref(x)
    expected = model.head(torch.cat([h, x], -1))
    assert torch.allclose(model(x), expected, atol=1e-6)


def test_elman_cell_computes_the_rnn_but_cuts_the_gradient_after_one_step():
    torch.manual_seed(0)
    model = SequenceModel(parse_cell("elman"), 3, 5, 2)
    ref = torch.nn.RNN(3, 5, batch_first=True)
    ref.load_state_dict({f"{k}_l0": v for k, v in model.rnn.state_dict().items()})
    x = torch.randn(2, 6, 3, requires_grad=True)
    out = model(x)
    assert torch.allclose(out, model.head(ref(x)[0]), atol=1e-6)
    (grad,) = torch.autograd.grad(out[:, 4].sum(), x)
    assert grad[:, 4].abs().sum() > 0 and not grad[:, :4].any()  # only the current input
    (full,) = torch.autograd.grad(model.head(ref(x)[0])[:, 4].sum(), x)
    assert full[:, 3].abs().sum() > 0  # full BPTT would reach the earlier steps


def test_chrono_init_spreads_memory_spans_over_one_to_t_max():
    torch.manual_seed(0)
    lstm = SequenceModel(parse_cell("lstm"), 2, 500, 1, chrono=100).rnn
    b_ih, b_hh = lstm.bias_ih_l0.detach().view(4, 500), lstm.bias_hh_l0.detach().view(4, 500)
    span = torch.exp(b_ih[1])  # forget bias log(u): u = e^b, uniform in [1, 99]
    assert 1 <= span.min() < 5 and 95 < span.max() <= 99
    assert abs(float(span.mean()) - 50) < 4
    assert torch.equal(b_ih[0], -b_ih[1]) and not b_hh[:2].any()
    gru = SequenceModel(parse_cell("gru"), 2, 300, 1, chrono=50).rnn
    z = gru.bias_ih_l0.view(3, 300)[1]
    assert math.log(1) <= z.min() and z.max() <= math.log(49)
    rnn = SequenceModel(parse_cell("rnn"), 2, 8, 1, chrono=50).rnn
    assert not rnn.bias_ih_l0.any()  # nothing to set: lstmkit's zero bias stays
    with pytest.raises(ValueError, match="chrono: expected T_max >= 2, got 1"):
        chrono_init_(lstm, 1)


# -- runner: files, resuming, table ------------------------------------------------------------


def test_runner_keeps_each_run_and_reuses_it(tmp_path, monkeypatch):
    runs = run_experiment("adding-100", parse_cell("rnn"), 2, tmp_path, budget=32, quiet=True)
    path = result_path(tmp_path, "adding-100", "rnn", 1)
    data = json.loads(path.read_text())
    assert data["seed"] == 1 and data["seen"] == 32 and data["config"]["budget"] == 32
    assert load_result(path) == runs[1]

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("lstmkit.experiments.runner.train", fail)
    again = run_experiment("adding-100", parse_cell("rnn"), 2, tmp_path, budget=32, quiet=True)
    assert again == runs
    later = run_experiment("adding-100", parse_cell("rnn"), 1, tmp_path, 32, True, first_seed=1)
    assert later == runs[1:]  # seed 1 alone, reused
    with pytest.raises(ValueError, match="was made with other settings"):
        run_experiment("adding-100", parse_cell("rnn"), 1, tmp_path, budget=64, quiet=True)


def test_load_result_rejects_non_results(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"task": "adding"}')
    with pytest.raises(ValueError, match="not a run result"):
        load_result(bad)
    bad.write_text('{"task": NaN}')
    with pytest.raises(ValueError, match="expected strict JSON, got NaN"):
        load_result(bad)


def test_summary_median_and_table(tmp_path):
    runs = run_experiment("adding-100", parse_cell("lstm"), 3, tmp_path, budget=32, quiet=True)
    for run, count in zip(runs, (1000, 3000, None), strict=True):
        run.solved, run.sequences = count is not None, count
    s = summarize(runs)
    assert (s.runs, s.solved, s.median, s.low, s.high) == (3, 2, 2000, 1000, 3000)
    table = results_table(tmp_path, list(EXPERIMENTS))
    assert "| 4: adding problem, T = 100 | lstm | <= 3 of 2560 wrong | 0/3 (0 %) |" in table
    assert "none within 32" in table and "mean 74,000" in table
    runs = run_experiment("multiplication", parse_cell("lstm"), 1, tmp_path, budget=32, quiet=True)
    runs[0].history = [(10, 100, 0.1), (20, 10, 0.1)]  # <= 170 wrong at 10, <= 15 at 20
    runs[0].solved, runs[0].sequences = True, 20
    rows = experiment_rows(EXPERIMENTS["multiplication"], {"lstm": runs})
    assert rows[0].endswith("| 20 | mean 1,273,000 (<= 15 wrong), 482,000 (<= 170) | 0.00 |")
    assert "| lstm (<= 170 wrong) | <= 170 of 2560 wrong | 1/1 (100 %) | 10 |" in rows[1]


# -- command line ------------------------------------------------------------------------------


def test_experiment_command_runs_and_prints_the_table(tmp_path, capsys):
    argv = ["experiment", "adding-100", "--cell", "rnn", "--seeds", "1", "--budget", "32",
            "--results", str(tmp_path), "--quiet", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| 4: adding problem, T = 100 | rnn |" in out
    assert result_path(tmp_path, "adding-100", "rnn", 0).exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["experiment", "adding-7"], "argument name: invalid choice: 'adding-7'"),
        (["experiment", "reber", "--cell", "lsm"],
         "argument --cell: expected 'lstm', 'gru', 'rnn', 'elman' or 'lstm:ABLATION'"),
        (["experiment", "reber", "--cell", "rnn:X"],
         "argument --cell: only the LSTM has ablations"),
        (["experiment", "reber", "--seeds", "0"],
         "argument --seeds: expected a positive integer, got 0"),
        (["experiment", "reber", "--budget", "many"],
         "argument --budget: expected a positive integer, got 'many'"),
    ],
)  # fmt: skip
def test_experiment_command_argument_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_experiment_command_reports_an_unknown_ablation(tmp_path, capsys, monkeypatch):
    def no_ablation(input_size, hidden_size, batch_first=False):
        raise AssertionError("not reached")

    monkeypatch.setitem(SequenceModel.__init__.__globals__["LAYERS"], "lstm", no_ablation)
    argv = ["experiment", "reber", "--cell", "lstm:NIG", "--results", str(tmp_path)]
    assert main(argv) == 2
    assert "error: cell: 'lstm:NIG' needs lstmkit.nn.LSTM(ablation=...)" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # failed before any run
