// The fused loop's optimizer argument (bindings/train_loop_optim.cpp): parsed and validated
// before any step runs.
#pragma once
#include <array>
#include <cstddef>
#include <string>

#include "bindings/arrays.h"
#include "nn/train_loop.h"

namespace cg {
namespace bind {

// The optimizer from its kind and its hyperparameters, in the order of its Hyper struct (the
// _kernel_args of the Python class); and which of the state buffers s0..s2 its driver uses.
Optimizer parse_optimizer(const std::string& kind, py::handle hyper, std::array<bool, 3>* needs);

// A schedule's momentums, one per step: each held to the optimizer's check in place of its
// momentum (or beta1); a nonzero SGD or RMSprop momentum needs the momentum buffers.
void check_momentums(const Optimizer& opt, const std::array<bool, 3>& needs, const double* m,
                     std::size_t count);

// The per-tensor scalars of the optimizer (opt.scalar_rows() rows of n), each in the range its
// group step accepts; ValueError naming "scalars[row][i]" (and what the row holds) otherwise.
void check_scalars(const Optimizer& opt, const double* s, std::size_t n);

}  // namespace bind
}  // namespace cg
