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

// y = x w^T (+ b) through oneDNN where it pays (float32, large enough), else nothing.
OptTensor dnn_linear(const Tensor& x, const Tensor& w, const OptTensor& b);

}  // namespace lstmkit
