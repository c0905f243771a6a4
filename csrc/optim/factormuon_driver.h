// Group-step drivers of Adafactor and Muon: one call updates every tensor of a parameter group.
#pragma once
#include <cstddef>
#include <vector>

namespace cg {

// One Adafactor tensor. Factored (ndim >= 2): viewed as `batch` matrices of rows x cols, with
// row_var (batch * rows) and col_var (batch * cols); otherwise n = cols elements with variance.
template <class T>
struct AdafactorTensor {
  std::size_t batch = 1, rows = 1, cols = 0;
  bool factored = false;
  long long step = 1;  // after this step (t >= 1)
  T* p = nullptr;
  const T* g = nullptr;
  T* row_var = nullptr;
  T* col_var = nullptr;
  T* variance = nullptr;
};

// One Muon tensor: a rows x cols matrix and its momentum buffer.
template <class T>
struct MuonTensor {
  std::size_t rows = 0, cols = 0;
  T* p = nullptr;
  const T* g = nullptr;
  T* buf = nullptr;
};

struct AdafactorHyper {
  double lr, beta2_decay, eps1, eps2, d, weight_decay;  // eps1 resolved (None -> dtype's eps)
  bool maximize;
};

enum class MuonAdjustLr { original = 0, match_rms_adamw = 1 };

struct MuonHyper {
  double lr, weight_decay, momentum;
  bool nesterov;
  double a, b, c, eps;
  long long ns_steps;
  MuonAdjustLr adjust_lr;
};

// Each check throws std::invalid_argument naming the offending hyperparameter.
void check(const AdafactorHyper& h);
void check(const MuonHyper& h);

template <class T>
void adafactor_step(const std::vector<AdafactorTensor<T>>& ts, const AdafactorHyper& h);
template <class T>
void muon_step(const std::vector<MuonTensor<T>>& ts, const MuonHyper& h);

}  // namespace cg
