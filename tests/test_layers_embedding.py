"""Embedding and Masking, and how their masks reach the recurrent layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstmkit import layers as L
from lstmkit.layers.masking import mask_to_lengths, reverse_padded


def test_embedding_equals_torch_embedding_with_the_same_table():
    torch.manual_seed(0)
    emb = L.Embedding(10, 4)
    theirs = nn.Embedding(10, 4)
    theirs.load_state_dict(emb.embedding.state_dict())
    ids = torch.randint(0, 10, (3, 5))
    torch.testing.assert_close(emb(ids), theirs(ids))
    assert emb.embedding.weight.abs().max() <= 0.05  # Keras's uniform(-0.05, 0.05)
    assert emb.compute_output_shape((None, 5)) == (None, 5, 4)


def test_embedding_mask_zero():
    emb = L.Embedding(10, 4, mask_zero=True)
    ids = torch.tensor([[1, 2, 0], [3, 0, 0]])
    assert emb.compute_mask(ids, None).tolist() == [[True, True, False], [True, False, False]]
    assert L.Embedding(10, 4).compute_mask(ids, None) is None


def test_embedding_errors():
    emb = L.Embedding(10, 4)
    with pytest.raises(ValueError, match=r"expected token ids in \[0, 10\) .*got 10"):
        emb(torch.tensor([[1, 10]]))
    with pytest.raises(ValueError, match=r"expected token ids in \[0, 10\) .*got -1"):
        emb(torch.tensor([[-1, 2]]))
    with pytest.raises(TypeError, match="expected integer token ids, got dtype torch.float32"):
        emb(torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="output_dim: expected an integer >= 1"):
        L.Embedding(10, 0)
    with pytest.raises(TypeError, match="mask_zero: expected a bool"):
        L.Embedding(10, 2, mask_zero=1)


def test_masking_marks_steps_whose_features_all_equal_the_value():
    x = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [2.0, 2.0]], [[3.0, 3.0], [3.0, 3.0], [3.0, 3.0]]])
    masking = L.Masking(mask_value=3.0)
    assert masking.compute_mask(x, None).tolist() == [[True, True, True], [False, False, False]]
    zero = L.Masking()
    assert zero.compute_mask(x, None).tolist() == [[True, False, True], [True, True, True]]
    torch.testing.assert_close(zero(x)[0, 1], torch.zeros(2))
    with pytest.raises(ValueError, match=r"Masking: expected a 3-D input \(B, T, F\)"):
        zero(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="mask_value: expected a number"):
        L.Masking("0")


def test_mask_to_lengths():
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    assert mask_to_lengths(mask).tolist() == [2, 1, 0]
    with pytest.raises(
        ValueError, match="sequence 1 has padding at step 0 before a valid step at 2"
    ):
        mask_to_lengths(torch.tensor([[1, 1, 1], [0, 0, 1]]))
    with pytest.raises(ValueError, match=r"mask: expected shape \(B, 4\), got \(2, 3\)"):
        mask_to_lengths(torch.ones(2, 3), steps=4)


def test_reverse_padded_against_a_loop():
    x = torch.randn(3, 5, 2)
    lengths = torch.tensor([5, 2, 3])
    expected = x.clone()
    for b, n in enumerate(lengths.tolist()):
        expected[b, :n] = x[b, :n].flip(0)
    torch.testing.assert_close(reverse_padded(x, lengths), expected)
    torch.testing.assert_close(reverse_padded(x, None), x.flip(1))


def test_masking_then_lstm_ignores_padding():
    torch.manual_seed(1)
    masking, lstm = L.Masking(0.0), L.LSTM(4, input_shape=(None, 3))
    x = torch.randn(1, 4, 3)
    padded = torch.cat([x, torch.zeros(1, 2, 3)], dim=1)
    out = lstm(masking(padded), mask=masking.compute_mask(padded, None))
    torch.testing.assert_close(out, lstm(x), rtol=1e-5, atol=1e-6)
