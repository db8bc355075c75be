// The time loops of the layer-normalised LSTM and GRU (ln_loop.cpp), for ln_ops.cpp.
#pragma once

#include <vector>

#include "ln_cells.h"

namespace lstmkit {

// Threads for the loops of D directions: a direction is split over units only when a step
// has enough work to pay for its barriers.
int ln_threads(int64_t B, int64_t H, int64_t GH, int64_t D, int lanes);

// The forward (or backward) time loop of every direction in ``dirs``.
template <typename T>
void run_ln(bool forward, std::vector<LnArgs<T>>& dirs, int threads);

}  // namespace lstmkit
