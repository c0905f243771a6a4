// The fused loop's optimizer (nn/train_loop.h): the group step of each kind, with the scalars
// some kinds keep per tensor, and the kind's learning rate, momentum and check.
#include <cstddef>
#include <vector>

#include "nn/train_loop.h"

namespace cg {

double& Optimizer::lr() {
  switch (kind) {
    case Kind::sgd:
      return sgd.lr;
    case Kind::adam:
      return adam.lr;
    case Kind::adagrad:
      return adagrad.lr;
    case Kind::rmsprop:
      return rmsprop.lr;
    case Kind::nadam:
      return nadam.lr;
    case Kind::radam:
      return radam.lr;
    case Kind::adamax:
      return adamax.lr;
    case Kind::adadelta:
      return adadelta.lr;
    case Kind::asgd:
      return asgd.lr;
    case Kind::rprop:
      return rprop.lr;
    case Kind::lion:
      return lion.lr;
    case Kind::schedulefree:
      break;
  }
  return schedulefree.lr;
}

double* Optimizer::momentum() {
  switch (kind) {
    case Kind::sgd:
      return &sgd.momentum;
    case Kind::adam:
      return &adam.beta1;
    case Kind::rmsprop:
      return &rmsprop.momentum;
    case Kind::nadam:
      return &nadam.beta1;
    case Kind::radam:
      return &radam.beta1;
    case Kind::adamax:
      return &adamax.beta1;
    case Kind::lion:
      return &lion.beta1;
    case Kind::schedulefree:
      return &schedulefree.beta1;
    case Kind::adagrad:
    case Kind::adadelta:
    case Kind::asgd:
    case Kind::rprop:
      break;
  }
  return nullptr;
}

void Optimizer::check() const {
  switch (kind) {
    case Kind::sgd:
      return cg::check(sgd);
    case Kind::adam:
      return cg::check(adam);
    case Kind::adagrad:
      return cg::check(adagrad);
    case Kind::rmsprop:
      return cg::check(rmsprop);
    case Kind::nadam:
      return cg::check(nadam);
    case Kind::radam:
      return cg::check(radam);
    case Kind::adamax:
      return cg::check(adamax);
    case Kind::adadelta:
      return cg::check(adadelta);
    case Kind::asgd:
      return cg::check(asgd);
    case Kind::rprop:
      return cg::check(rprop);
    case Kind::lion:
      return cg::check(lion);
    case Kind::schedulefree:
      return cg::check(schedulefree);
  }
}

std::size_t Optimizer::scalar_rows() const {
  switch (kind) {
    case Kind::nadam:
      return 1;
    case Kind::asgd:
    case Kind::schedulefree:
      return 2;
    default:
      return 0;
  }
}

template <class T>
void optimizer_step(const Optimizer& o, const std::vector<OptimTensor<T>>& ps, double* scalars) {
  const std::size_t n = ps.size();
  switch (o.kind) {
    case Optimizer::Kind::sgd:
      return sgd_step<T>(ps, o.sgd);
    case Optimizer::Kind::adam:
      return adam_step<T>(ps, o.adam);
    case Optimizer::Kind::adagrad:
      return adagrad_step<T>(ps, o.adagrad);
    case Optimizer::Kind::rmsprop:
      return rmsprop_step<T>(ps, o.rmsprop);
    case Optimizer::Kind::nadam: {
      NadamHyper h = o.nadam;
      h.mu_products = scalars;  // advanced in place
      return nadam_step<T>(ps, h);
    }
    case Optimizer::Kind::radam:
      return radam_step<T>(ps, o.radam);
    case Optimizer::Kind::adamax:
      return adamax_step<T>(ps, o.adamax);
    case Optimizer::Kind::adadelta:
      return adadelta_step<T>(ps, o.adadelta);
    case Optimizer::Kind::asgd: {
      AsgdHyper h = o.asgd;
      h.eta = scalars;
      h.mu = scalars + n;
      asgd_step<T>(ps, h);
      // The values the Python ASGD keeps in its state after the step (asgd_step's binding).
      for (std::size_t i = 0; i < n; ++i) asgd_next(h, ps[i].step, scalars + i, scalars + n + i);
      return;
    }
    case Optimizer::Kind::rprop:
      return rprop_step<T>(ps, o.rprop);
    case Optimizer::Kind::lion:
      return lion_step<T>(ps, o.lion);
    case Optimizer::Kind::schedulefree: {
      std::vector<ScheduleFreeSched> sched(n);
      for (std::size_t i = 0; i < n; ++i) sched[i] = {scalars[i], scalars[n + i]};
      schedulefree_adamw_step<T>(ps, o.schedulefree, sched);
      for (std::size_t i = 0; i < n; ++i) {
        scalars[i] = sched[i].lr_max;
        scalars[n + i] = sched[i].weight_sum;
      }
      return;
    }
  }
}

template void optimizer_step<float>(const Optimizer&, const std::vector<OptimTensor<float>>&,
                                    double*);
template void optimizer_step<double>(const Optimizer&, const std::vector<OptimTensor<double>>&,
                                     double*);

}  // namespace cg
