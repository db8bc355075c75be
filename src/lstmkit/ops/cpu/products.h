// Large matrix products of a layer on lstmkit's own micro-kernel (matmul.h).
#pragma once

#include "layer.h"

namespace lstmkit {

// C = [C +] [bias +] op(a) op(b), op(m) = m^T when its flag is set; a, b 2-D, float32 or
// float64. Written into ``into`` (contiguous (M, N)) when given, else a new tensor.
// Example: the input projection, G = X W_ih^T + b: product(x2, false, w_ih, true, b).
Tensor product(const Tensor& a, bool ta, const Tensor& b, bool tb, const OptTensor& bias = {},
               OptTensor into = {}, bool accumulate = false);

}  // namespace lstmkit
