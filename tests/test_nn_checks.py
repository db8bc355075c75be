"""Bad input: each case raises before any kernel runs, with a message naming the argument,
the expected and the actual value."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

from lstmkit import nn as lk

lstm = lk.LSTM(3, 4, num_layers=2)  # L*D = 2, H = 4
lstm_bf = lk.LSTM(3, 4, batch_first=True)
gru = lk.GRU(3, 4)
x = torch.randn(5, 2, 3)  # (T, B, I)
h = torch.zeros(2, 2, 4)

# fmt: off
CASES = [
    # (id, call, exception, message pattern)
    ("input not a tensor", lambda: lstm([[1.0, 2.0, 3.0]]), TypeError,
     "input: expected a torch.Tensor or a PackedSequence, got list"),
    ("input 4-D", lambda: lstm(torch.randn(5, 2, 3, 1)), ValueError,
     r"input: expected a 3-D tensor \(T, B, I\) or a 2-D unbatched \(T, I\), got a 4-D tensor "
     r"of shape \(5, 2, 3, 1\)"),
    ("input 1-D", lambda: lstm(torch.randn(3)), ValueError, r"got a 1-D tensor of shape \(3,\)"),
    ("batch_first layout named", lambda: lstm_bf(torch.randn(3)), ValueError,
     r"expected a 3-D tensor \(B, T, I\)"),
    ("wrong feature size", lambda: lstm(torch.randn(5, 2, 7)), ValueError,
     r"input: expected 3 features in the last dimension \(input_size\), got 7 in shape "
     r"\(5, 2, 7\)"),
    ("T = 0", lambda: lstm(torch.randn(0, 2, 3)), ValueError,
     r"input: expected at least one time step \(T >= 1\), got T = 0"),
    ("T = 0 batch_first", lambda: lstm_bf(torch.randn(2, 0, 3)), ValueError, "got T = 0"),
    ("integer input", lambda: lstm(torch.ones(5, 2, 3, dtype=torch.long)), TypeError,
     "input: expected a floating-point tensor, got dtype torch.int64"),
    ("dtype mismatch", lambda: lstm(x.double()), TypeError,
     r"input: expected dtype torch.float32 \(the dtype of the weights\), got torch.float64"),
    ("hx not a pair", lambda: lstm(x, h), TypeError,
     r"hx: expected a tuple \(h_0, c_0\) of two tensors, got Tensor"),
    ("hx triple", lambda: lstm(x, (h, h, h)), TypeError, "got a tuple of 3"),
    ("h_0 wrong shape", lambda: lstm(x, (torch.zeros(1, 2, 4), h)), ValueError,
     r"hx\[0\] \(h_0\): expected shape \(2, 2, 4\) = \(L\*D, B, H\), got \(1, 2, 4\)"),
    ("c_0 wrong batch", lambda: lstm(x, (h, torch.zeros(2, 3, 4))), ValueError,
     r"hx\[1\] \(c_0\): expected shape \(2, 2, 4\) = \(L\*D, B, H\), got \(2, 3, 4\)"),
    ("h_0 wrong dtype", lambda: lstm(x, (h.double(), h)), TypeError,
     r"hx\[0\] \(h_0\): expected dtype torch.float32"),
    ("gru hx wrong shape", lambda: gru(x, torch.zeros(1, 2, 5)), ValueError,
     r"hx: expected shape \(1, 2, 4\) = \(L\*D, B, H\), got \(1, 2, 5\)"),
    ("gru hx as tuple", lambda: gru(x, (torch.zeros(1, 2, 4),)), TypeError,
     "hx: expected a torch.Tensor, got tuple"),
    ("unbatched hx 3-D", lambda: gru(torch.randn(5, 3), torch.zeros(1, 1, 4)), ValueError,
     r"hx: expected shape \(1, 4\) = \(L\*D, H\), got \(1, 1, 4\)"),
    ("lengths too long", lambda: lstm(x, lengths=[6, 2]), ValueError,
     r"lengths: expected every value in \[1, 5\] \(T = 5\), got 6 at index 0"),
    ("lengths zero", lambda: lstm(x, lengths=torch.tensor([3, 0])), ValueError,
     "got 0 at index 1"),
    ("lengths negative", lambda: lstm(x, lengths=[-1, 2]), ValueError, "got -1 at index 0"),
    ("lengths count", lambda: lstm(x, lengths=[3, 2, 1]), ValueError,
     r"lengths: expected 2 values \(one per sequence, shape \(2,\)\), got shape \(3,\)"),
    ("lengths 2-D", lambda: lstm(x, lengths=[[3, 2]]), ValueError, r"got shape \(1, 2\)"),
    ("lengths float", lambda: lstm(x, lengths=[3.0, 2.0]), TypeError,
     "lengths: expected integers, got dtype torch.float32"),
    ("lengths text", lambda: lstm(x, lengths="32"), TypeError,
     r"lengths: expected a \(B,\) tensor or list of integers, got str"),
    ("lengths with unbatched", lambda: lstm(torch.randn(5, 3), lengths=[5]), ValueError,
     "lengths: expected None for unbatched 2-D input"),
    ("lengths with packed", lambda: lstm(pack_sequence([torch.randn(2, 3)]), lengths=[2]),
     ValueError, "lengths: expected None when input is a PackedSequence"),
    ("packed dtype", lambda: lstm(pack_sequence([torch.randn(2, 3).double()])), TypeError,
     "input: expected dtype torch.float32"),
    ("device mismatch", lambda: lk.LSTM(3, 4, device="meta")(x), ValueError,
     r"input: expected a tensor on meta \(the device of the weights\), got one on cpu"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "exc", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_clear_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# fmt: off
CONSTRUCTOR_CASES = [
    (lambda: lk.LSTM(0, 4), ValueError, "input_size: expected an integer >= 1, got 0"),
    (lambda: lk.LSTM(3, 4.5), ValueError, "hidden_size: expected an integer >= 1, got 4.5"),
    (lambda: lk.LSTM(3, 4, num_layers=0), ValueError, "num_layers: expected an integer >= 1"),
    (lambda: lk.LSTM(3, 4, proj_size=4), ValueError,
     r"proj_size: expected < hidden_size \(4\), got 4"),
    (lambda: lk.LSTM(3, 4, proj_size=-1), ValueError, "proj_size: expected an integer >= 0"),
    (lambda: lk.LSTM(3, 4, dropout=1.5), ValueError,
     r"dropout: expected a number in \[0, 1\], got 1.5"),
    (lambda: lk.LSTM(3, 4, bias="yes"), TypeError, "bias: expected a bool, got 'yes'"),
    (lambda: lk.LSTM(3, 4, batch_first=1), TypeError, "batch_first: expected a bool, got 1"),
    (lambda: lk.RNN(3, 4, nonlinearity="sigmoid"), ValueError,
     "nonlinearity: expected one of 'tanh', 'relu', got 'sigmoid'"),
    (lambda: lk.LSTM(3, 4, impl="fast"), ValueError,
     "impl: expected one of 'auto', 'reference', 'native', 'fused', got 'fast'"),
    (lambda: lk.GRU(3, 4, reset_after=False, impl="native"), ValueError,
     "impl='native': torch's fused GRU kernel does not support reset_after=False"),
    (lambda: lk.LSTM(3, 4, init="he"), ValueError,
     "init: expected one of 'lstmkit', 'torch', got 'he'"),
    (lambda: lk.LSTMCell(3, 4, proj_size=2), TypeError, "proj_size: not an option of LSTMCell"),
]
# fmt: on


@pytest.mark.parametrize(("call", "exc", "pattern"), CONSTRUCTOR_CASES)
def test_bad_constructor_arguments(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


cell = lk.LSTMCell(3, 4)
# fmt: off
CELL_CASES = [
    (lambda: cell(torch.randn(2, 2, 3)), ValueError,
     r"input: expected a 2-D tensor \(B, I\) or a 1-D unbatched \(I,\), got a 3-D tensor"),
    (lambda: cell(torch.randn(2, 5)), ValueError, "expected 3 features in the last dimension"),
    (lambda: cell(torch.randn(2, 3), (torch.zeros(2, 4),)), TypeError, "got a tuple of 1"),
    (lambda: cell(torch.randn(2, 3), (torch.zeros(2, 4), torch.zeros(3, 4))), ValueError,
     r"hx\[1\] \(c\): expected shape \(2, 4\) = \(B, H\), got \(3, 4\)"),
    (lambda: cell(torch.randn(3), (torch.zeros(1, 4), torch.zeros(1, 4))), ValueError,
     r"hx\[0\] \(h\): expected shape \(4,\) = \(H,\), got \(1, 4\)"),
]
# fmt: on


@pytest.mark.parametrize(("call", "exc", "pattern"), CELL_CASES)
def test_bad_cell_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
