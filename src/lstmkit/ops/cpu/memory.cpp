// Kept blocks (memory.h): a c10::Allocator whose freed blocks wait, oldest first, for the
// next request they fit. Blocks are aligned to 2 MB and offered to the kernel as transparent
// huge pages, so even a block's first touch faults once per 2 MB rather than per 4 KB.
#include "memory.h"

#include <ATen/EmptyTensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/accumulate.h>
#include <sys/mman.h>

#include <cstdlib>
#include <deque>
#include <iterator>
#include <mutex>

namespace lstmkit {
namespace {

constexpr size_t kHugePage = size_t(1) << 21;

struct Block {
  void* ptr;
  size_t bytes;
};

class KeptBlocks final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    Block* b = take(n);
    if (!b) b = fresh(n);
    return {b->ptr, b, &KeptBlocks::release, c10::Device(c10::DeviceType::CPU)};
  }

  void copy_data(void* dest, const void* src, size_t count) const override {
    default_copy_data(dest, src, count);
  }

  size_t bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return total_;
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (Block* b : free_) drop(b);
    free_.clear();
    total_ = 0;
  }

 private:
  // The smallest kept block that holds n bytes and wastes at most half of itself; of equal
  // ones the last freed, whose lines may still be in the caches.
  Block* take(size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto best = free_.rend();
    for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
      const size_t size = (*it)->bytes;
      if (size >= n && size <= 2 * n && (best == free_.rend() || size < (*best)->bytes)) best = it;
    }
    if (best == free_.rend()) return nullptr;
    Block* b = *best;
    free_.erase(std::next(best).base());
    total_ -= b->bytes;
    return b;
  }

  static Block* fresh(size_t n) {
    const size_t bytes = (n + kHugePage - 1) / kHugePage * kHugePage;
    void* p = nullptr;
    TORCH_CHECK(posix_memalign(&p, kHugePage, bytes) == 0,
                "lstmkit: could not allocate ", bytes, " bytes");
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without it the block still works
#endif
    return new Block{p, bytes};
  }

  static void release(void* context) { instance().give_back(static_cast<Block*>(context)); }

  void give_back(Block* b) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (b->bytes > kMaxKeptBytes) return drop(b);
    while (total_ + b->bytes > kMaxKeptBytes) {  // the oldest make room
      total_ -= free_.front()->bytes;
      drop(free_.front());
      free_.pop_front();
    }
    free_.push_back(b);
    total_ += b->bytes;
  }

  static void drop(Block* b) {
    std::free(b->ptr);
    delete b;
  }

  std::mutex mutex_;
  std::deque<Block*> free_;  // oldest first
  size_t total_ = 0;

 public:
  // Never destroyed: a tensor freed while the process exits still finds it.
  static KeptBlocks& instance() {
    static KeptBlocks* blocks = new KeptBlocks();
    return *blocks;
  }
};

}  // namespace

at::Tensor kept_empty(at::IntArrayRef sizes, const at::TensorOptions& opts) {
  const auto type = opts.dtype().toScalarType();
  const size_t bytes = c10::multiply_integers(sizes) * c10::elementSize(type);
  if (bytes < kMinKeptBytes) return at::empty(sizes, opts);
  return at::detail::empty_generic(sizes, &KeptBlocks::instance(),
                                   c10::DispatchKeySet(c10::DispatchKey::CPU), type,
                                   std::nullopt);
}

size_t kept_bytes() { return KeptBlocks::instance().bytes(); }

void release_kept() { KeptBlocks::instance().release_all(); }

}  // namespace lstmkit
