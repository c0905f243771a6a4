// Helpers shared by the optimizer group drivers (optim/*_driver.cpp): hyperparameter checks and
// the chunked parallel loop over a group's tensors.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/parallel.h"
#include "optim/driver.h"

namespace cg {
namespace optim_util {

inline constexpr std::size_t kChunk = 1 << 15;        // elements per work item (a multiple of 16)
inline constexpr std::size_t kMinParallel = 1 << 16;  // below this many elements, one thread

inline void require(bool ok, const char* name, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(name) + " " + what);
}
inline void finite_nonneg(double x, const char* name) {
  require(std::isfinite(x) && x >= 0.0, name,
          "must be a finite number >= 0, got " + std::to_string(x));
}
inline void unit_interval(double x, const char* name) {
  require(std::isfinite(x) && x >= 0.0 && x < 1.0, name,
          "must be in [0, 1), got " + std::to_string(x));
}

// The checks of Adam-style hyperparameters (Adam, AdamW, NAdam, RAdam, Adamax), in this order.
inline void check_adam_like(double lr, double beta1, double beta2, double eps,
                            double weight_decay) {
  finite_nonneg(lr, "lr");
  unit_interval(beta1, "betas[0]");
  unit_interval(beta2, "betas[1]");
  finite_nonneg(eps, "eps");
  finite_nonneg(weight_decay, "weight_decay");
}

// Adam-style bias correction 1 - beta^step (in double).
inline double bias_correction(double beta, double step) { return 1.0 - std::pow(beta, step); }

// Runs fn(tensor_index, offset, length) over all tensors in chunks of kChunk elements. Each
// element is updated by the same kernel code whatever chunk it falls in, so results do not
// depend on the thread count.
template <class T, class F>
void for_each_chunk(const std::vector<OptimTensor<T>>& ts, F&& fn) {
  struct Item {
    std::size_t t, off, len;
  };
  std::vector<Item> items;
  std::size_t total = 0;
  for (std::size_t t = 0; t < ts.size(); ++t) {
    for (std::size_t off = 0; off < ts[t].n; off += kChunk)
      items.push_back({t, off, std::min(kChunk, ts[t].n - off)});
    total += ts[t].n;
  }
  parallel_for(items.size(), total, kMinParallel,
               [&](std::size_t i) { fn(items[i].t, items[i].off, items[i].len); });
}

// p + off, or nullptr for an unused buffer.
template <class T>
T* at(T* p, std::size_t off) {
  return p ? p + off : nullptr;
}

}  // namespace optim_util
}  // namespace cg
