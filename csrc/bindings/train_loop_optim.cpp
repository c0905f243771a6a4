// The fused loop's optimizer argument: its kind, hyperparameters, scheduled momentums and
// per-tensor scalars, each validated with the checks of the kind's own group step.
#include "bindings/train_loop_optim.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace cg {
namespace bind {

Optimizer parse_optimizer(const std::string& kind, py::handle hyper, std::array<bool, 3>* needs) {
  using K = Optimizer::Kind;
  if (!py::isinstance<py::tuple>(hyper)) throw py::type_error("hyper must be a tuple");
  const auto h = py::reinterpret_borrow<py::tuple>(hyper);
  const auto size = [&](std::size_t n) {
    if (h.size() != n)
      throw std::invalid_argument("hyper for " + kind + " must have " + std::to_string(n) +
                                  " items, got " + std::to_string(h.size()));
  };
  const auto f = [&](std::size_t i) { return h[i].cast<double>(); };
  const auto b = [&](std::size_t i) { return h[i].cast<bool>(); };
  Optimizer o;
  *needs = {true, true, false};  // the two buffers of most kinds
  if (kind == "sgd") {
    size(6);
    o.kind = K::sgd;
    o.sgd = {f(0), f(1), f(2), f(3), b(4), b(5)};
    *needs = {o.sgd.momentum != 0.0, false, false};
  } else if (kind == "adam") {
    size(8);
    o.kind = K::adam;
    o.adam = {f(0), f(1), f(2), f(3), f(4), b(5), b(6), b(7)};
    *needs = {true, true, o.adam.amsgrad};
  } else if (kind == "adagrad") {
    size(5);
    o.kind = K::adagrad;
    o.adagrad = {f(0), f(1), f(2), f(3), b(4)};
    *needs = {true, false, false};
  } else if (kind == "rmsprop") {
    size(7);
    o.kind = K::rmsprop;
    o.rmsprop = {f(0), f(1), f(2), f(3), f(4), b(5), b(6)};
    *needs = {true, o.rmsprop.centered, o.rmsprop.momentum != 0.0};
  } else if (kind == "nadam") {
    size(8);
    o.kind = K::nadam;
    o.nadam = {f(0), f(1), f(2), f(3), f(4), f(5), b(6), b(7)};
  } else if (kind == "radam") {
    size(7);
    o.kind = K::radam;
    o.radam = {f(0), f(1), f(2), f(3), f(4), b(5), b(6)};
  } else if (kind == "adamax") {
    size(6);
    o.kind = K::adamax;
    o.adamax = {f(0), f(1), f(2), f(3), f(4), b(5)};
  } else if (kind == "adadelta") {
    size(5);
    o.kind = K::adadelta;
    o.adadelta = {f(0), f(1), f(2), f(3), b(4)};
  } else if (kind == "asgd") {
    size(6);
    o.kind = K::asgd;
    o.asgd = {f(0), f(1), f(2), f(3), f(4), b(5)};
    *needs = {true, false, false};
  } else if (kind == "rprop") {
    size(6);
    o.kind = K::rprop;
    o.rprop = {f(0), f(1), f(2), f(3), f(4), b(5)};
  } else if (kind == "lion") {
    size(5);
    o.kind = K::lion;
    o.lion = {f(0), f(1), f(2), f(3), b(4)};
    *needs = {true, false, false};
  } else if (kind == "schedulefree") {
    size(8);
    o.kind = K::schedulefree;
    if (py::isinstance<py::bool_>(h[5]) || !py::isinstance<py::int_>(h[5]))
      throw py::type_error("hyper[5] (warmup_steps) must be an int");
    o.schedulefree = {f(0), f(1), f(2), f(3), f(4), h[5].cast<long long>(), f(6), f(7)};
  } else {
    throw std::invalid_argument(
        "optimizer must be 'sgd', 'adam', 'adagrad', 'rmsprop', 'nadam', 'radam', 'adamax', "
        "'adadelta', 'asgd', 'rprop', 'lion' or 'schedulefree', got '" +
        kind + "'");
  }
  o.check();
  return o;
}

void check_momentums(const Optimizer& opt, const std::array<bool, 3>& needs, const double* m,
                     std::size_t count) {
  Optimizer o = opt;
  if (!o.momentum()) {
    static const char* const names[] = {"sgd",   "adam",  "adagrad", "rmsprop",
                                        "nadam", "radam", "adamax",  "adadelta",
                                        "asgd",  "rprop", "lion",    "schedulefree"};
    throw std::invalid_argument(std::string("momentums: ") + names[static_cast<int>(o.kind)] +
                                " has no momentum");
  }
  const bool sgd = o.kind == Optimizer::Kind::sgd, rms = o.kind == Optimizer::Kind::rmsprop;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string name = item_name("momentums", i);
    finite(m[i], name.c_str(), true);
    *o.momentum() = m[i];
    try {
      o.check();
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(name + ": " + e.what());
    }
    if (m[i] != 0.0 && ((sgd && !needs[0]) || (rms && !needs[2])))
      throw std::invalid_argument(name + " is not 0: the momentum buffers (states[" +
                                  (sgd ? "0" : "2") + "]) are needed");
  }
}

void check_scalars(const Optimizer& opt, const double* s, std::size_t n) {
  struct Row {
    const char* what;
    double lo, hi;
  };
  const double inf = HUGE_VAL;
  std::vector<Row> rows;
  switch (opt.kind) {
    case Optimizer::Kind::nadam:  // as nadam_step's mu_products
      rows = {{"mu_product", 0.0, 1.0}};
      break;
    case Optimizer::Kind::asgd:  // as asgd_step's etas and mus
      rows = {{"eta", 0.0, inf}, {"mu", 0.0, inf}};
      break;
    case Optimizer::Kind::schedulefree:  // as schedulefree_adamw_step's lr_maxs, weight_sums
      rows = {{"lr_max", -1.0, inf}, {"weight_sum", 0.0, inf}};
      break;
    default:
      break;
  }
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t i = 0; i < n; ++i) {
      const double x = s[r * n + i];
      if (!(std::isfinite(x) && x >= rows[r].lo && x <= rows[r].hi))
        throw std::invalid_argument("scalars[" + std::to_string(r) + "][" + std::to_string(i) +
                                    "] (" + rows[r].what + ") must be finite and in [" +
                                    std::to_string(rows[r].lo) + ", " + std::to_string(rows[r].hi) +
                                    "], got " + std::to_string(x));
    }
}

}  // namespace bind
}  // namespace cg
