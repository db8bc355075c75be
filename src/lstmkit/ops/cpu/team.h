// A team of threads that stays together for a whole sequence, synchronised by a spin barrier.
//
// A fork-join (at::parallel_for) per time step costs microseconds; the recurrence needs a
// rendezvous per step and nothing else, so the loop over steps runs *inside* one parallel
// region and the threads meet at a barrier (one or two cache-line round trips) each step.
//
// at::parallel_for may give fewer threads than asked for (nested regions, OMP limits), so
// the team is formed by rendezvous: each invocation of the region body registers, and the
// team is whoever registered once every requested slot has been claimed. Work is then split
// by the actual team size, so a team of one simply runs everything, without barriers.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

namespace lstmkit {

class SpinBarrier {
 public:
  explicit SpinBarrier(int n = 1) : n_(n) {}
  void reset(int n) { n_.store(n, std::memory_order_relaxed); }

  void wait() {
    const int n = n_.load(std::memory_order_relaxed);
    if (n <= 1) return;
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    // Spin, then yield: on an oversubscribed machine the other thread may be descheduled.
    for (int spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<int> gen_{0};
  alignas(64) std::atomic<int> n_;
};

// One worker's place: which group (direction) it serves, its index in the group, the group's
// size, and the group's barrier.
struct Worker {
  int group;
  int index;
  int size;
  SpinBarrier* barrier;
  void sync() const { barrier->wait(); }
};

// A worker's share of n items (unit blocks, columns), as even as possible.
struct Range {
  int64_t begin, end;
};

inline Range share(int64_t n, int index, int size) {
  return {n * index / size, n * (index + 1) / size};
}

// Vector blocks of ``lanes`` that n items take.
inline int64_t blocks(int64_t n, int lanes) { return (n + lanes - 1) / lanes; }

// Whether a time loop's workers split the batch rows rather than the units: once each gets a
// row tile (``tile`` rows, what the micro-kernel takes at once). By rows, each worker runs the
// recurrence of its own rows alone, with no barrier per step; every worker then reads all of
// W_hh at every step, which measured no slower than reading half of it and waiting.
inline bool split_rows(int64_t batch, int workers, int64_t tile) {
  return workers > 1 && batch >= tile * workers;
}

// A worker's share of n vector blocks in whole panels of ``per_panel`` blocks: what it packs
// when the rows are split, so that every worker finds each panel where it looks for it.
inline Range panel_share(int64_t n, int64_t per_panel, int index, int size) {
  const Range panels = share(blocks(n, int(per_panel)), index, size);
  return {std::min(panels.begin * per_panel, n), std::min(panels.end * per_panel, n)};
}

// A worker's rows of the batch, in whole tiles of ``tile`` rows where possible.
inline Range row_share(int64_t batch, int index, int size, int64_t tile) {
  const Range tiles = share(blocks(batch, tile), index, size);
  return {std::min(tiles.begin * tile, batch), std::min(tiles.end * tile, batch)};
}

// Run ``body(worker)`` for ``groups`` independent groups (1 or 2) with up to ``threads``
// threads in all. With fewer threads than groups, one thread runs the groups in turn.
template <typename Body>
void run_team(int groups, int threads, const Body& body) {
  SpinBarrier barriers[2];
  if (threads <= 1) {
    for (int g = 0; g < groups; ++g) body(Worker{g, 0, 1, &barriers[g]});
    return;
  }
  std::atomic<int> arrived{0}, claimed{0};
  at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
    const int me = arrived.fetch_add(1);
    claimed.fetch_add(int(end - begin));
    while (claimed.load() < threads) std::this_thread::yield();
    const int team = arrived.load();
    if (team < groups) {  // fewer threads than groups: each runs whole groups in turn
      for (int g = me; g < groups; g += team) body(Worker{g, 0, 1, &barriers[g]});
      return;
    }
    // Split the team as evenly as possible among the groups.
    const int g = groups == 1 ? 0 : (me < team / 2 ? 0 : 1);
    const int first = g == 0 ? 0 : team / 2;
    const int size = groups == 1 ? team : (g == 0 ? team / 2 : team - team / 2);
    barriers[g].reset(size);  // every member stores the same size before its first wait
    body(Worker{g, me - first, size, &barriers[g]});
  });
}

}  // namespace lstmkit
