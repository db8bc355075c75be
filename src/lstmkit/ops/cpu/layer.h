// CPU kernels of the operators: one layer (one or both directions) forward and backward.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>
#include <vector>

namespace lstmkit {

using at::Tensor;
using at::TensorList;
using OptTensor = std::optional<Tensor>;
using Tensors = std::vector<Tensor>;

// (out (T, B, D*P), h_n (D, B, P), c_n (D, B, H) or (0, B, H), workspace (D, W) or (0, W)).
std::tuple<Tensor, Tensor, Tensor, Tensor> rnn_fwd_cpu(
    const Tensor& x, const Tensor& h0, const OptTensor& c0, TensorList w_ih, TensorList w_hh,
    TensorList b_ih, TensorList b_hh, TensorList w_hr, const OptTensor& lengths, int64_t cell,
    bool save, TensorList var);

// (dx (T, B, I) or (0,), dh0, dc0, dW_ih[D], dW_hh[D], db_ih[D or 0], db_hh[D or 0],
//  dW_hr[D or 0], dvar[len(var)]); weight gradients are (0,) when need_weights is false.
// var: a variant LSTM's extra tensors (variant_layer.h), else empty.
std::tuple<Tensor, Tensor, Tensor, Tensors, Tensors, Tensors, Tensors, Tensors, Tensors>
rnn_bwd_cpu(
    const Tensor& grad_out, const Tensor& grad_h_n, const OptTensor& grad_c_n, const Tensor& x,
    const Tensor& h0, const OptTensor& c0, TensorList w_ih, TensorList w_hh, TensorList b_ih,
    TensorList b_hh, TensorList w_hr, const OptTensor& lengths, const Tensor& ws, int64_t cell,
    bool need_input, bool need_weights, TensorList var);

// One step of a plain cell (kLSTM, kGRU, kRNNTanh, kRNNRelu) for a few rows (B <= kMaxRows):
// x (B, I), h (B, H), c (B, H) for an LSTM (else none), w_ih (GH, I), w_hh (GH, H), biases
// (GH,) or none, every tensor contiguous and of x's dtype. fits_direct_cell says whether the
// arguments are such; cell_direct runs the step with no views and no allocation but the new
// state (h', c'; c' is (0,) unless an LSTM): at small H those cost more than the step.
bool fits_direct_cell(const Tensor& x, const Tensor& h, const OptTensor& c, const Tensor& w_ih,
                      const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                      int64_t cell);
std::tuple<Tensor, Tensor> cell_direct(const Tensor& x, const Tensor& h, const OptTensor& c,
                                       const Tensor& w_ih, const Tensor& w_hh,
                                       const OptTensor& b_ih, const OptTensor& b_hh,
                                       int64_t cell);

// Whether a step may call its kernel itself, without the dispatcher: every tensor a plain CPU
// tensor that needs no gradient here, and no mode (a tracer's, a dispatch mode) active.
bool runs_directly(const Tensor& x, const Tensor& h, const OptTensor& c, const Tensor& w_ih,
                   const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                   TensorList var);

// The operator lstmkit::cell (ops.cpp): one step of any cell, x (B, I), h (B, P), c (B, H).
std::tuple<Tensor, Tensor> cell_step(const Tensor& x, const Tensor& h, const OptTensor& c,
                                     const Tensor& w_ih, const Tensor& w_hh,
                                     const OptTensor& b_ih, const OptTensor& b_hh, int64_t cell,
                                     TensorList var);

}  // namespace lstmkit
