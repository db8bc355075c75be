// Tensor-level entry to matmul.h: the input projection and the gradient products of a layer.
#include "products.h"

#include <ATen/ATen.h>

#include "matmul.h"
#include "memory.h"

namespace lstmkit {
namespace {

template <typename T>
void run(const Tensor& a, bool ta, const Tensor& b, bool tb, const OptTensor& bias, Tensor& c,
         bool accumulate) {
  MatmulArgs<T> m;
  m.M = ta ? a.size(1) : a.size(0);
  m.K = ta ? a.size(0) : a.size(1);
  m.N = tb ? b.size(0) : b.size(1);
  m.A = a.data_ptr<T>(), m.a_rs = ta ? 1 : a.size(1), m.a_ks = ta ? a.size(1) : 1;
  m.B = b.data_ptr<T>(), m.b_ks = tb ? 1 : b.size(1), m.b_cs = tb ? b.size(1) : 1;
  m.C = c.data_ptr<T>(), m.ldc = c.size(1);
  m.bias = bias ? bias->data_ptr<T>() : nullptr;
  m.accumulate = accumulate;
  matmul(m);
}

}  // namespace

Tensor product(const Tensor& a, bool ta, const Tensor& b, bool tb, const OptTensor& bias,
               OptTensor into, bool accumulate) {
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  const OptTensor biasc = bias ? OptTensor(bias->contiguous()) : std::nullopt;
  const int64_t M = ta ? a.size(1) : a.size(0), N = tb ? b.size(0) : b.size(1);
  TORCH_CHECK((ta ? a.size(0) : a.size(1)) == (tb ? b.size(1) : b.size(0)),
              "lstmkit::product: inner sizes differ");
  Tensor c = into ? *into : kept_empty({M, N}, a.options());
  TORCH_CHECK(c.is_contiguous() && c.size(0) == M && c.size(1) == N,
              "lstmkit::product: the output must be a contiguous (M, N) matrix");
  if (a.scalar_type() == at::kFloat) {
    run<float>(ac, ta, bc, tb, biasc, c, accumulate);
  } else {
    run<double>(ac, ta, bc, tb, biasc, c, accumulate);
  }
  return c;
}

}  // namespace lstmkit
