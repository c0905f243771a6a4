// Optimizer group steps: validate every array and hyperparameter, release the GIL, call the driver.
#include "bindings/optim_group.h"

namespace cg {
namespace bind {

void register_optim(py::module_& m) {
  m.def(
      "sgd_step",
      [](py::handle params, py::handle grads, py::handle momentum_buffers, py::handle steps,
         double lr, double momentum, double dampening, double weight_decay, bool nesterov,
         bool maximize, bool dry_run) {
        const SgdHyper h{lr, momentum, dampening, weight_decay, nesterov, maximize};
        run_group(params, grads,
                  {{{"momentum_buffers", momentum_buffers, momentum != 0.0}, kUnused, kUnused}},
                  steps, dry_run, h, &sgd_step<float>, &sgd_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("steps"),
      py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"),
      py::arg("nesterov"), py::arg("maximize"), py::arg("dry_run") = false,
      "One SGD step over a group, in place. steps[i] == 1 initializes the momentum buffer.");
  m.def(
      "adam_step",
      [](py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_avg_sqs,
         py::handle max_exp_avg_sqs, py::handle steps, double lr, double beta1, double beta2,
         double eps, double weight_decay, bool amsgrad, bool maximize, bool decoupled,
         bool dry_run) {
        const AdamHyper h{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled};
        run_group(params, grads,
                  {{{"exp_avgs", exp_avgs, true},
                    {"exp_avg_sqs", exp_avg_sqs, true},
                    {"max_exp_avg_sqs", max_exp_avg_sqs, amsgrad}}},
                  steps, dry_run, h, &adam_step<float>, &adam_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"),
      py::arg("maximize"), py::arg("decoupled"), py::arg("dry_run") = false,
      "One Adam (decoupled=False) or AdamW (decoupled=True) step over a group, in place.");
  m.def(
      "adagrad_step",
      [](py::handle params, py::handle grads, py::handle state_sums, py::handle steps, double lr,
         double lr_decay, double weight_decay, double eps, bool maximize, bool dry_run) {
        const AdagradHyper h{lr, lr_decay, weight_decay, eps, maximize};
        run_group(params, grads, {{{"state_sums", state_sums, true}, kUnused, kUnused}}, steps,
                  dry_run, h, &adagrad_step<float>, &adagrad_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::arg("steps"), py::arg("lr"),
      py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
      py::arg("dry_run") = false, "One Adagrad step over a group, in place.");
  m.def(
      "rmsprop_step",
      [](py::handle params, py::handle grads, py::handle square_avgs, py::handle grad_avgs,
         py::handle momentum_buffers, double lr, double alpha, double eps, double weight_decay,
         double momentum, bool centered, bool maximize, bool dry_run) {
        const RmspropHyper h{lr, alpha, eps, weight_decay, momentum, centered, maximize};
        run_group(params, grads,
                  {{{"square_avgs", square_avgs, true},
                    {"grad_avgs", grad_avgs, centered},
                    {"momentum_buffers", momentum_buffers, momentum != 0.0}}},
                  py::none(), dry_run, h, &rmsprop_step<float>, &rmsprop_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("grad_avgs"),
      py::arg("momentum_buffers"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
      py::arg("dry_run") = false, "One RMSprop step over a group, in place.");

  // Hyperparameter checks alone, for the optimizer constructors (same rules as the steps).
  m.def(
      "check_sgd",
      [](double lr, double momentum, double dampening, double weight_decay, bool nesterov) {
        check(SgdHyper{lr, momentum, dampening, weight_decay, nesterov, false});
      },
      py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"),
      py::arg("nesterov"));
  m.def(
      "check_adam",
      [](double lr, double beta1, double beta2, double eps, double weight_decay) {
        check(AdamHyper{lr, beta1, beta2, eps, weight_decay, false, false, false});
      },
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"));
  m.def(
      "check_adagrad",
      [](double lr, double lr_decay, double weight_decay, double eps) {
        check(AdagradHyper{lr, lr_decay, weight_decay, eps, false});
      },
      py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"));
  m.def(
      "check_rmsprop",
      [](double lr, double alpha, double eps, double weight_decay, double momentum) {
        check(RmspropHyper{lr, alpha, eps, weight_decay, momentum, false, false});
      },
      py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"),
      py::arg("momentum"));
}

}  // namespace bind
}  // namespace cg
