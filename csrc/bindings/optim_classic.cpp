// Adadelta, ASGD and Rprop group steps: validate every array and hyperparameter, release the GIL,
// call the driver (the run_group pattern of bindings/optim_group.h).
#include <string>
#include <vector>

#include "bindings/optim_group.h"
#include "optim/classic_driver.h"

namespace cg {
namespace bind {
namespace {

// The n real numbers (not bools) of a sequence, each finite and >= 0; TypeError/ValueError
// naming "name[i]".
std::vector<double> nonneg_items(py::handle obj, const char* name, std::size_t n) {
  const py::list items = as_list(obj, name, n);
  std::vector<double> out;
  for (std::size_t i = 0; i < n; ++i) {
    const py::handle x = items[i];
    const std::string item = item_name(name, i);
    if (py::isinstance<py::bool_>(x) ||
        !(py::isinstance<py::float_>(x) || py::isinstance<py::int_>(x)))
      throw py::type_error(item + " must be a real number");
    out.push_back(x.cast<double>());
    finite(out.back(), item.c_str(), true);
  }
  return out;
}

}  // namespace

void register_optim_classic(py::module_& m) {
  m.def(
      "adadelta_step",
      [](py::handle params, py::handle grads, py::handle square_avgs, py::handle acc_deltas,
         double lr, double rho, double eps, double weight_decay, bool maximize, bool dry_run) {
        const AdadeltaHyper h{lr, rho, eps, weight_decay, maximize};
        run_group(params, grads,
                  {{{"square_avgs", square_avgs, true}, {"acc_deltas", acc_deltas, true}, kUnused}},
                  py::none(), dry_run, h, &adadelta_step<float>, &adadelta_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("acc_deltas"),
      py::arg("lr"), py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
      py::arg("dry_run") = false, "One Adadelta step over a group, in place.");
  m.def(
      "asgd_step",
      [](py::handle params, py::handle grads, py::handle axs, py::handle etas, py::handle mus,
         py::handle steps, double lr, double lambd, double alpha, double t0, double weight_decay,
         bool maximize, bool dry_run) -> py::object {
        AsgdHyper h{lr, lambd, alpha, t0, weight_decay, maximize};
        check(h);
        const std::size_t n = as_list(params, "params").size();
        const std::vector<double> eta = nonneg_items(etas, "etas", n);
        const std::vector<double> mu = nonneg_items(mus, "mus", n);
        const std::vector<long long> st = int_items(steps, "steps", n, 1);
        h.eta = eta.data();
        h.mu = mu.data();
        run_group(params, grads, {{{"axs", axs, true}, kUnused, kUnused}}, steps, dry_run, h,
                  &asgd_step<float>, &asgd_step<double>);
        if (dry_run) return py::none();
        py::list new_eta, new_mu;
        for (std::size_t i = 0; i < n; ++i) {
          double e, u;
          asgd_next(h, st[i], &e, &u);
          new_eta.append(e);
          new_mu.append(u);
        }
        return py::make_tuple(new_eta, new_mu);
      },
      py::arg("params"), py::arg("grads"), py::arg("axs"), py::arg("etas"), py::arg("mus"),
      py::arg("steps"), py::arg("lr"), py::arg("lambd"), py::arg("alpha"), py::arg("t0"),
      py::arg("weight_decay"), py::arg("maximize"), py::arg("dry_run") = false,
      "One ASGD step over a group, in place, with each tensor's eta and mu from its previous step "
      "(lr and 1 on the first). steps[i] is the tensor's step count after this step. Returns the "
      "(etas, mus) after the step (None when dry_run).");
  m.def(
      "rprop_step",
      [](py::handle params, py::handle grads, py::handle prevs, py::handle step_sizes, double lr,
         double etaminus, double etaplus, double step_min, double step_max, bool maximize,
         bool dry_run) {
        const RpropHyper h{lr, etaminus, etaplus, step_min, step_max, maximize};
        run_group(params, grads,
                  {{{"prevs", prevs, true}, {"step_sizes", step_sizes, true}, kUnused}}, py::none(),
                  dry_run, h, &rprop_step<float>, &rprop_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("prevs"), py::arg("step_sizes"), py::arg("lr"),
      py::arg("etaminus"), py::arg("etaplus"), py::arg("step_min"), py::arg("step_max"),
      py::arg("maximize"), py::arg("dry_run") = false,
      "One Rprop step over a group, in place (the step sizes start at lr: the caller fills them).");

  // Hyperparameter checks alone, for the optimizer constructors (same rules as the steps).
  m.def(
      "check_adadelta",
      [](double lr, double rho, double eps, double weight_decay) {
        check(AdadeltaHyper{lr, rho, eps, weight_decay, false});
      },
      py::arg("lr"), py::arg("rho"), py::arg("eps"), py::arg("weight_decay"));
  m.def(
      "check_asgd",
      [](double lr, double lambd, double alpha, double t0, double weight_decay) {
        check(AsgdHyper{lr, lambd, alpha, t0, weight_decay, false});
      },
      py::arg("lr"), py::arg("lambd"), py::arg("alpha"), py::arg("t0"), py::arg("weight_decay"));
  m.def(
      "check_rprop",
      [](double lr, double etaminus, double etaplus, double step_min, double step_max) {
        check(RpropHyper{lr, etaminus, etaplus, step_min, step_max, false});
      },
      py::arg("lr"), py::arg("etaminus"), py::arg("etaplus"), py::arg("step_min"),
      py::arg("step_max"));
}

}  // namespace bind
}  // namespace cg
