// Memory of the large tensors a call makes: outputs, saved activations and scratch.
//
// A fresh allocation of tens of MB comes from the kernel as new pages, and faulting them in
// on first touch costs about as much as the forward pass that writes them (a T = 1000,
// B = 32, H = 64 LSTM saving its activations took twice as long as one not saving). So the
// blocks of these tensors are kept when they are freed and handed out again: a training loop
// that repeats its shapes touches the same pages every step.
#pragma once

#include <ATen/core/Tensor.h>

namespace lstmkit {

// Like at::empty, but a block of at least kMinKeptBytes comes from, and returns to, the
// kept blocks (at most kMaxKeptBytes in all; the oldest go back to the system first).
// Example: ``Tensor ws = kept_empty({D, total}, x.options());``
at::Tensor kept_empty(at::IntArrayRef sizes, const at::TensorOptions& opts);

constexpr size_t kMinKeptBytes = size_t(1) << 20;
constexpr size_t kMaxKeptBytes = size_t(1) << 29;

// Bytes in kept blocks that wait for a request, and handing all of those back to the system
// (blocks of tensors still alive are kept by them and come back when they are freed).
size_t kept_bytes();
void release_kept();

}  // namespace lstmkit
