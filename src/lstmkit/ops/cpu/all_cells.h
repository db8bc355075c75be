// Every cell the drivers run, and the one place a cell code maps to its cell type.
#pragma once

#include <cstdint>

#include "cells.h"
#include "variant_cells.h"

namespace lstmkit {

// Calls f(Cell{}) with the cell type of ``code`` (its kind in the low bits, see cells.h).
template <typename F>
void with_cell(int64_t code, F&& f) {
  switch (cell_kind(code)) {
    case kLSTM: return f(LSTMCell{});
    case kLSTMVariant: return f(VariantLSTMCell{});
    case kGRUVariant: return f(VariantGRUCell{});
    case kGRU: return f(GRUCell{});
    case kRNNTanh: return f(ElmanCell<false>{});
    default: return f(ElmanCell<true>{});
  }
}

}  // namespace lstmkit
