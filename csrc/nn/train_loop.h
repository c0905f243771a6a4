// The fused training loop (train_loop_driver.cpp): mini-batch steps of Dense layers, softmax
// cross-entropy and an elementwise optimizer (SGD, Adam/AdamW, Adagrad, RMSprop, NAdam, RAdam,
// Adamax, Adadelta, ASGD, Rprop, Lion, Schedule-Free AdamW) without Python between the steps.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "nn/driver.h"
#include "optim/adam_family_driver.h"
#include "optim/classic_driver.h"
#include "optim/driver.h"
#include "optim/lionsf_driver.h"

namespace cg {

// The optimizer of the loop: its kind and hyperparameters (the group drivers of optim/*driver.h;
// the state buffers s0..s2 are theirs). Some kinds keep scalars per tensor besides the buffers
// (TrainLoop::scalars): NAdam its mu_product, ASGD eta and mu, Schedule-Free lr_max and
// weight_sum. The methods and the group step of each kind: nn/train_loop_optim_driver.cpp.
struct Optimizer {
  enum class Kind {
    sgd,
    adam,
    adagrad,
    rmsprop,
    nadam,
    radam,
    adamax,
    adadelta,
    asgd,
    rprop,
    lion,
    schedulefree
  } kind = Kind::adam;
  SgdHyper sgd{};
  AdamHyper adam{};
  AdagradHyper adagrad{};
  RmspropHyper rmsprop{};
  NadamHyper nadam{};
  RadamHyper radam{};
  AdamaxHyper adamax{};
  AdadeltaHyper adadelta{};
  AsgdHyper asgd{};
  RpropHyper rprop{};
  LionHyper lion{};
  ScheduleFreeHyper schedulefree{};
  // The learning rate of the kind in use.
  double& lr();
  // The momentum of the kind in use (SGD's and RMSprop's momentum, beta1 of the kinds with
  // betas), or nullptr (Adagrad, Adadelta, ASGD and Rprop have none).
  double* momentum();
  // Throws std::invalid_argument naming the hyperparameter out of range (the kind's check).
  void check() const;
  // The rows of TrainLoop::scalars the kind keeps (0, 1 or 2).
  std::size_t scalar_rows() const;
};

// One Dense layer y = act(x @ w + b) (w: in x out) and its buffers, each `batch` rows.
template <class T>
struct LoopDense {
  std::size_t in = 0, out = 0;
  const T* w = nullptr;
  const T* b = nullptr;  // or nullptr
  Act act = Act::linear;
  double slope = 0.0;
  double activity_l1 = 0.0, activity_l2 = 0.0, weight_l1 = 0.0, weight_l2 = 0.0;
  T* y = nullptr;               // output (batch x out)
  T* dyp = nullptr;             // scratch (batch x out)
  T* dx = nullptr;              // input gradient (batch x in); unused for the first layer
  T* dw = nullptr;              // weight gradient (in x out)
  T* db = nullptr;              // bias gradient (out), or nullptr
  double weight_penalty = 0.0;  // out: the weight penalty summed by the last backward
};

// Data-parallel training (convergent.distributed), when buf is set: step i runs on this rank's
// rows [rank*m/size, (rank+1)*m/size) of global batch i (m rows). After each layer's backward
// pass its weight and bias gradients, times the rank's share of the batch ((hi-lo)/m), go to
// their place in buf (the layers' gradients in order, then the weighted loss and the correct
// count); hook(k) starts summing group k of buf across the ranks after layer l's pass when
// launch[l] = k >= 0, hook(-1) between the other layers lets started sums progress, and hook(-2)
// waits for all of them. The guard, clips and optimizer then read the sums in buf (copied to the
// layers' gradients at the end of the run), and the step's loss and count are the sums'. A hook
// that returns false stops the run before its step is applied.
template <class T>
struct LoopComm {
  std::size_t rank = 0, size = 1;
  T* buf = nullptr;
  const std::int64_t* launch = nullptr;  // one per layer
  std::function<bool(std::int64_t)> hook;
};

// The epoch's data, the model and the optimizer. Batch i holds rows [i*batch, i*batch + batch)
// of the epoch's order (the last batch partial), gathered into slot i % 2 of xbuf/ybuf (rows
// [0, batch) or [batch, 2*batch)); without an order, rows in storage order are used in place.
template <class T>
struct TrainLoop {
  const T* x = nullptr;  // n x features
  std::size_t n = 0, features = 0, batch = 0;
  const std::int64_t* y = nullptr;      // n labels in [0, classes)
  const std::int64_t* order = nullptr;  // n row indices, or nullptr
  T* xbuf = nullptr;                    // 2*batch x features
  std::int64_t* ybuf = nullptr;         // 2*batch
  T* dlogits = nullptr;                 // batch x classes
  std::vector<LoopDense<T>> layers;
  double smoothing = 0.0;
  // A step whose gradients are not all finite is skipped (convergent.fit's guard).
  bool guard = true;
  // convergent.fit's clips when > 0: the gradients scaled to a global norm of at most
  // clip_norm, then each clipped to [-clip_value, clip_value] (see guard_and_clip).
  double clip_norm = 0.0, clip_value = 0.0;
  // The step's loss: false, cg.fit's (data loss + activity and weight penalties taken before
  // the backward pass); true, the estimators' (data loss + the weight penalties summed by the
  // backward passes).
  bool penalty_after_backward = false;
  Optimizer opt;
  // The learning rate of each step of the call (a schedule's values), or nullptr: opt's own.
  const double* lrs = nullptr;
  // Adam's epsilon of each step of the call (the estimators' sklearn Adam), or nullptr: opt's.
  const double* epss = nullptr;
  // The momentum (or beta1) of each step of the call (a schedule's values), or nullptr:
  // opt's own.
  const double* momentums = nullptr;
  std::vector<OptimTensor<T>> params;  // step: the count so far, advanced by applied steps
  // opt.scalar_rows() rows of params.size() doubles, read and advanced by every applied step:
  // NAdam's mu_products; ASGD's etas, then mus; Schedule-Free's lr_maxs, then weight_sums.
  double* scalars = nullptr;
  LoopComm<T> comm;  // comm.buf == nullptr: one process
};

struct LoopStep {
  double loss = 0.0;
  std::int64_t correct = 0;
  bool applied = false;
};

// One group step of o's kind over ps (their step counts already advanced), with the kind's
// per-tensor scalars (o.scalar_rows() rows of ps.size()), which it advances.
template <class T>
void optimizer_step(const Optimizer& o, const std::vector<OptimTensor<T>>& ps, double* scalars);

// Runs batches [first, first + count) of the epoch; out[i] receives step i's loss, correct count
// and whether the update was applied. Returns the steps run: count, or fewer when a comm hook
// stopped the run.
template <class T>
std::size_t train_steps(TrainLoop<T>& t, std::size_t first, std::size_t count, LoopStep* out);

}  // namespace cg
