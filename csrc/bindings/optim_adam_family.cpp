// NAdam, RAdam and Adamax group steps: validate every array and hyperparameter, release the GIL,
// call the driver (the run_group pattern of bindings/optim_group.h).
#include <cmath>
#include <string>

#include "bindings/optim_group.h"
#include "optim/adam_family_driver.h"

namespace cg {
namespace bind {

void register_optim_adam_family(py::module_& m) {
  m.def(
      "nadam_step",
      [](py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_avg_sqs,
         py::handle mu_products, py::handle steps, double lr, double beta1, double beta2,
         double eps, double weight_decay, double momentum_decay, bool decoupled, bool maximize,
         bool dry_run) {
        NadamHyper h{lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled, maximize};
        check(h);
        const std::size_t n = as_list(params, "params").size();
        const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(n)};
        py::array mu = arg(mu_products, "mu_products", DType::f64, true, 1, &shape);
        double* mp = mptr<double>(mu);
        for (std::size_t i = 0; i < n; ++i)
          if (!(std::isfinite(mp[i]) && mp[i] >= 0.0 && mp[i] <= 1.0))
            throw std::invalid_argument(item_name("mu_products", i) + " must be in [0, 1], got " +
                                        std::to_string(mp[i]));
        h.mu_products = mp;
        run_group(params, grads,
                  {{{"exp_avgs", exp_avgs, true}, {"exp_avg_sqs", exp_avg_sqs, true}, kUnused}},
                  steps, dry_run, h, &nadam_step<float>, &nadam_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("mu_products"), py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("weight_decay"), py::arg("momentum_decay"), py::arg("decoupled"),
      py::arg("maximize"), py::arg("dry_run") = false,
      "One NAdam step over a group, in place. mu_products (float64, one per param) holds the "
      "momentum-schedule product before the step (1.0 at the first) and after it on return.");
  m.def(
      "radam_step",
      [](py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_avg_sqs,
         py::handle steps, double lr, double beta1, double beta2, double eps, double weight_decay,
         bool decoupled, bool maximize, bool dry_run) {
        const RadamHyper h{lr, beta1, beta2, eps, weight_decay, decoupled, maximize};
        run_group(params, grads,
                  {{{"exp_avgs", exp_avgs, true}, {"exp_avg_sqs", exp_avg_sqs, true}, kUnused}},
                  steps, dry_run, h, &radam_step<float>, &radam_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("decoupled"), py::arg("maximize"),
      py::arg("dry_run") = false, "One RAdam step over a group, in place.");
  m.def(
      "adamax_step",
      [](py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_infs,
         py::handle steps, double lr, double beta1, double beta2, double eps, double weight_decay,
         bool maximize, bool dry_run) {
        const AdamaxHyper h{lr, beta1, beta2, eps, weight_decay, maximize};
        run_group(params, grads,
                  {{{"exp_avgs", exp_avgs, true}, {"exp_infs", exp_infs, true}, kUnused}}, steps,
                  dry_run, h, &adamax_step<float>, &adamax_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_infs"),
      py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("maximize"), py::arg("dry_run") = false,
      "One Adamax step over a group, in place.");

  // Hyperparameter checks alone, for the optimizer constructors (same rules as the steps).
  m.def(
      "check_nadam",
      [](double lr, double beta1, double beta2, double eps, double weight_decay,
         double momentum_decay) {
        check(NadamHyper{lr, beta1, beta2, eps, weight_decay, momentum_decay, false, false});
      },
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
      py::arg("momentum_decay"));
  m.def(
      "check_radam",
      [](double lr, double beta1, double beta2, double eps, double weight_decay) {
        check(RadamHyper{lr, beta1, beta2, eps, weight_decay, false, false});
      },
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"));
  m.def(
      "check_adamax",
      [](double lr, double beta1, double beta2, double eps, double weight_decay) {
        check(AdamaxHyper{lr, beta1, beta2, eps, weight_decay, false});
      },
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"));
}

}  // namespace bind
}  // namespace cg
