// The Python entries to one step of a cell, besides the operator lstmkit::cell, and to the
// kept blocks of the kernels' large tensors (memory.h).
//
// A call through torch.ops converts every argument against the operator's schema and costs
// about as much as a whole step at small H. ``cell`` calls the operator's own function
// (cell_step, ops.cpp), which still goes through the dispatcher whenever autograd, a mode or
// a tracer needs to see the step; ``quick_cell`` runs only the one-step kernel and declines
// everything else. Python uses them outside torch.compile (fused.py, dispatch.py).
#include <torch/extension.h>

#include "layer.h"
#include "memory.h"

namespace {

using lstmkit::OptTensor;
using lstmkit::Tensor;

std::tuple<Tensor, Tensor> cell(const Tensor& x, const Tensor& h, const OptTensor& c,
                                const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
                                const OptTensor& b_hh, int64_t code,
                                const std::vector<Tensor>& var) {
  return lstmkit::cell_step(x, h, c, w_ih, w_hh, b_ih, b_hh, code, var);
}

// (h', c') of a plain cell (code 0-3) with at most ``max_rows`` rows, straight from the
// one-step kernel; None when the step needs more than that kernel (autograd, a mode, more
// rows, arguments it does not take as they are): the caller then takes the full path, whose
// checks name what is wrong.
std::optional<std::tuple<Tensor, Tensor>> quick_cell(const Tensor& x, const Tensor& h,
                                                     const OptTensor& c, const Tensor& w_ih,
                                                     const Tensor& w_hh, const OptTensor& b_ih,
                                                     const OptTensor& b_hh, int64_t code,
                                                     int64_t max_rows) {
  if (!lstmkit::fits_direct_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, code) ||
      x.size(0) > max_rows || !lstmkit::runs_directly(x, h, c, w_ih, w_hh, b_ih, b_hh, {}))
    return std::nullopt;
  return lstmkit::cell_direct(x, h, c, w_ih, w_hh, b_ih, b_hh, code);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using pybind11::call_guard, pybind11::gil_scoped_release;
  m.def("cell", &cell, "One step of a cell, as torch.ops.lstmkit.cell.",
        call_guard<gil_scoped_release>());
  m.def("quick_cell", &quick_cell, "One step of a plain cell with few rows, or None.",
        call_guard<gil_scoped_release>());
  m.def("memory_kept", &lstmkit::kept_bytes, "Bytes in kept blocks waiting for a request.");
  m.def("empty_cache", &lstmkit::release_kept, "Hand the waiting kept blocks back.");
}
