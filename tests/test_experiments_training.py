"""Training until success, the networks, the runner's files and table, and the command line."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest
import torch

from lstmkit.cli import main
from lstmkit.experiments import EXPERIMENTS, TrainConfig, parse_cell, train
from lstmkit.experiments.adding import AddingTask
from lstmkit.experiments.models import Cell, SequenceModel, chrono_init_
from lstmkit.experiments.runner import (
    ablation_table,
    experiment_rows,
    load_result,
    result_path,
    results_table,
    run_experiment,
    save_result,
    summarize,
)
from lstmkit.experiments.training import RunResult, build_model
from lstmkit.ops.spec import ABLATIONS
from variant_oracle import Oracle


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
        ({"optimizer": "sgd"}, "optimizer: expected one of adam, rmsprop, got 'sgd'"),
        ({"schedule": "step"}, "schedule: expected one of constant, cosine, got 'step'"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):  # fmt: skip
        TrainConfig(**kwargs)


def test_rmsprop_option_takes_the_rmsprop_step():
    """One update of ``optimizer="rmsprop"`` against RMSprop written out: the squared
    gradient's average v = (1 - 0.9) g^2 from zero, then w - lr g / (sqrt(v) + 1e-8)."""
    task, config = AddingTask(20), TrainConfig(
        hidden_size=4, batch_size=8, lr=0.01, optimizer="rmsprop", clip=1e9, check_every=8,
        budget=8,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model(task, parse_cell("lstm"), config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = task.sample(8, torch.Generator().manual_seed(3))  # the run's first batch (seed 3)
    grads = torch.autograd.grad(task.loss(model(batch.x), batch), list(model.parameters()))
    train(task, parse_cell("lstm"), config, seed=3, quiet=True, model=model)
    for (name, param), g in zip(model.named_parameters(), grads, strict=True):
        v = 0.1 * g**2
        expected = before[name] - 0.01 * g / (v.sqrt() + 1e-8)
        torch.testing.assert_close(param.detach(), expected, msg=name)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_learning_rate_schedule(schedule, monkeypatch):
    """The learning rate of every update: lr throughout, or lr (1 + cos(pi s / budget)) / 2
    after s sequences."""
    used = []

    class Recorder(torch.optim.SGD):
        def step(self, closure=None):
            used.append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(
        "lstmkit.experiments.training.make_optimizer",
        lambda model, config: Recorder(model.parameters(), lr=config.lr),
    )
    config = TrainConfig(hidden_size=4, batch_size=8, lr=0.3, schedule=schedule, budget=40,
                         check_every=16, decay=1.0)  # fmt: skip
    train(AddingTask(20), parse_cell("lstm"), config, seed=0, quiet=True)
    seen = [0, 8, 16, 24, 32]
    cosine = [0.3 * (1 + math.cos(math.pi * s / 40)) / 2 for s in seen]
    assert used == pytest.approx(cosine if schedule == "cosine" else [0.3] * 5)


@pytest.mark.parametrize("name", ["skip", "layer_norm"])
def test_train_config_switches_must_be_bools(name):
    with pytest.raises(TypeError, match=f"{name}: expected a bool, got 1"):
        TrainConfig(**{name: 1})


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


@pytest.mark.parametrize("name", ["V", *ABLATIONS])
def test_ablation_cells_compute_the_greff_variant(name):
    """'lstm:NAME' is lstmkit's LSTM with that ablation, checked against the equations;
    'lstm:V' is the peephole LSTM the ablations are made from."""
    torch.manual_seed(0)
    model = SequenceModel(parse_cell(f"lstm:{name}"), 3, 4, 2, chrono=10)
    assert model.rnn.spec.ablation == (None if name == "V" else name)
    assert model.rnn.spec.uses_peepholes == (name != "NP")
    x = torch.randn(2, 5, 3)
    expected = model.head(Oracle(model.rnn)(x)[0])  # the variant written out from the paper
    assert torch.allclose(model(x), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru", "lstm:NOAF"])
def test_layer_norm_option_normalises_the_gated_cells(kind):
    torch.manual_seed(0)
    model = SequenceModel(parse_cell(kind), 3, 6, 2, chrono=20, skip=True, layer_norm=True)
    assert model.rnn.spec.layer_norm
    gates = model.rnn.spec.gate_count
    span = model.rnn.bias_ih_l0.detach().view(gates, 6)[1].exp()  # chrono: u in [1, 19]
    assert ((span >= 1) & (span <= 19)).all() and span.std() > 0
    assert not model.rnn.bias_hh_l0.view(gates, 6)[1].any()
    x = torch.randn(2, 5, 3)
    expected = model.head(torch.cat([Oracle(model.rnn)(x)[0], x], -1))
    assert torch.allclose(model(x), expected, atol=1e-5)


def test_layer_norm_option_leaves_the_elman_networks_as_they_are():
    for kind in ("rnn", "elman"):
        torch.manual_seed(0)
        plain = SequenceModel(parse_cell(kind), 3, 4, 2)
        torch.manual_seed(0)
        normed = SequenceModel(parse_cell(kind), 3, 4, 2, layer_norm=True)
        assert plain.state_dict().keys() == normed.state_dict().keys()
        x = torch.randn(2, 5, 3)
        assert torch.equal(plain(x), normed(x))


def test_build_model_follows_the_layer_norm_setting():
    config = TrainConfig(hidden_size=4, layer_norm=True)
    assert build_model(AddingTask(20), parse_cell("lstm"), config).rnn.spec.layer_norm
    assert not build_model(AddingTask(20), parse_cell("lstm"), TrainConfig()).rnn.spec.layer_norm


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


def test_runner_trains_with_the_settings_it_is_given(tmp_path):
    """``config`` replaces the experiment's settings, ``budget`` still the budget."""
    earlier = TrainConfig(hidden_size=4, lr=1e-3, batch_size=8, check_every=8, budget=99)
    (run,) = run_experiment("copy", parse_cell("gru"), 1, tmp_path, 16, True, config=earlier)
    assert run.config == asdict(TrainConfig(**{**asdict(earlier), "budget": 16}))
    assert run.seen == 16 and run.parameters == 3 * (10 * 4 + 4 * 4 + 2 * 4) + 4 * 10 + 10
    with pytest.raises(ValueError, match="was made with other settings"):
        run_experiment("copy", parse_cell("gru"), 1, tmp_path, budget=16, quiet=True)


def test_runs_stored_before_a_setting_existed_read_as_made_without_it(tmp_path, monkeypatch):
    (run,) = run_experiment("adding-100", parse_cell("rnn"), 1, tmp_path, budget=8, quiet=True)
    path = result_path(tmp_path, "adding-100", "rnn", 0)
    data = json.loads(path.read_text())
    del data["config"]["layer_norm"], data["config"]["optimizer"]  # as before these existed
    path.write_text(json.dumps(data))
    assert load_result(path).config["layer_norm"] is False
    assert load_result(path).config["optimizer"] == "adam"
    monkeypatch.setattr("lstmkit.experiments.runner.train", None)  # must not train again
    assert run_experiment("adding-100", parse_cell("rnn"), 1, tmp_path, 8, True) == [run]


def test_ablation_table_sets_the_variants_beside_the_lstm(tmp_path):
    assert ablation_table(tmp_path, list(EXPERIMENTS)) == ""
    config = asdict(EXPERIMENTS["order-6a"].config)
    for cell, seed, sequences in [
        ("lstm", 0, 4000),
        ("lstm", 1, 8000),
        ("lstm:NOG", 0, None),
        ("lstm:NOG", 1, 6000),
        ("lstm:NIG", 0, None),
        ("lstm:V", 0, 2000),
        ("gru", 0, 10),
    ]:
        run = RunResult(
            "order 6a",
            cell,
            seed,
            sequences is not None,
            sequences,
            100_000,
            0,
            2560,
            3,
            1,
            0.0,
            config,
        )
        save_result(result_path(tmp_path, "order-6a", cell, seed), run)
    lines = ablation_table(tmp_path, list(EXPERIMENTS)).splitlines()
    assert lines[:2] == ["| Cell | 6a: temporal order, 2 symbols |", "|---|---|"]
    assert lines[2:] == [
        "| lstm (NP) | 2/2, 6,000 |",
        "| lstm:V | 1/1, 2,000 |",  # the base of the ablations first
        "| lstm:NIG | 0/1, none within 100,000 |",  # Greff et al.'s order: NIG before NOG
        "| lstm:NOG | 1/2, 6,000 |",
    ]
    table = results_table(tmp_path, list(EXPERIMENTS))
    assert "| lstm |" in table and "| gru |" in table and "lstm:" not in table


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


def test_experiment_command_reports_an_unknown_ablation(tmp_path, capsys):
    argv = ["experiment", "reber", "--cell", "lstm:NOPE", "--results", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "lstmkit experiment: error: ablation: expected one of 'NIG', 'NFG'" in err
    assert "got 'NOPE'" in err
    assert not any(tmp_path.iterdir())  # failed before any run


def test_experiment_command_prints_the_ablation_table(tmp_path, capsys):
    argv = ["experiment", "reber", "--cell", "lstm", "--cell", "lstm:NFG", "--seeds", "1",
            "--budget", "8", "--results", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| 1: embedded Reber grammar | lstm |" in out
    assert "| 1: embedded Reber grammar | lstm:NFG |" not in out  # not in the main table
    assert "| Cell | 1: embedded Reber grammar |" in out
    assert "| lstm:NFG | 0/1, none within 8 |" in out
