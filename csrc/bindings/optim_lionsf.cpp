// Lion and Schedule-Free AdamW group steps and the Schedule-Free train/eval switch: validate every
// array and hyperparameter, release the GIL, call the driver.
#include <vector>

#include "bindings/optim_group.h"
#include "optim/lionsf_driver.h"

namespace cg {
namespace bind {
namespace {

// The n real numbers of a sequence (Python float or int, not bool), each finite (and >= lo).
std::vector<double> float_items(py::handle obj, const char* name, std::size_t n, double lo) {
  const py::list l = as_list(obj, name, n);
  std::vector<double> out;
  for (std::size_t i = 0; i < n; ++i) {
    const py::handle h = l[i];
    const std::string item = item_name(name, i);
    if (py::isinstance<py::bool_>(h) ||
        !(py::isinstance<py::float_>(h) || py::isinstance<py::int_>(h)))
      throw py::type_error(item + " must be a float, got " +
                           std::string(py::str(py::type::handle_of(h).attr("__name__"))));
    const double x = h.cast<double>();
    finite(x, item.c_str(), false);
    if (x < lo)
      throw std::invalid_argument(item + " must be >= " + std::to_string(lo) + ", got " +
                                  std::to_string(x));
    out.push_back(x);
  }
  return out;
}

// Checks params (written) and, per name, one same-shape array per param (written when asked).
struct Group {
  DType dtype = DType::f64;
  std::vector<py::array> p, g;
  std::array<std::vector<py::array>, 2> s;
};
Group checked_group(py::handle params, py::handle grads, std::array<StateArg, 2> states) {
  Group out;
  const py::list pl = as_list(params, "params");
  const std::size_t n = pl.size();
  const py::list gl = grads.is_none() ? py::list() : as_list(grads, "grads", n);
  if (n == 0) return out;
  out.dtype = float_dtype(pl[0], "params[0]");
  for (std::size_t i = 0; i < n; ++i) {
    out.p.push_back(checked(pl[i], item_name("params", i), out.dtype, true));
    const auto shape = shape_of(out.p.back());
    if (!grads.is_none())
      out.g.push_back(checked(gl[i], item_name("grads", i), out.dtype, false, &shape));
  }
  for (int k = 0; k < 2; ++k) {
    if (!states[k].used) continue;
    const py::list sl = as_list(states[k].obj, states[k].name, n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto shape = shape_of(out.p[i]);
      out.s[k].push_back(checked(sl[i], item_name(states[k].name, i), out.dtype, true, &shape));
    }
  }
  return out;
}

template <class T>
std::vector<OptimTensor<T>> tensors(Group& gr, const std::vector<long long>& steps) {
  std::vector<OptimTensor<T>> ts(gr.p.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    ts[i].n = static_cast<std::size_t>(gr.p[i].size());
    ts[i].step = steps.empty() ? 1 : steps[i];
    ts[i].p = mptr<T>(gr.p[i]);
    if (!gr.g.empty()) ts[i].g = cptr<T>(gr.g[i]);
    if (!gr.s[0].empty()) ts[i].s0 = mptr<T>(gr.s[0][i]);
    if (!gr.s[1].empty()) ts[i].s1 = mptr<T>(gr.s[1][i]);
  }
  return ts;
}

py::list schedulefree_adamw(py::handle params, py::handle grads, py::handle zs,
                            py::handle exp_avg_sqs, py::handle steps, py::handle lr_maxs,
                            py::handle weight_sums, const ScheduleFreeHyper& h, bool dry_run) {
  check(h);
  Group gr = checked_group(params, grads, {{{"zs", zs, true}, {"exp_avg_sqs", exp_avg_sqs, true}}});
  const std::size_t n = gr.p.size();
  const std::vector<long long> st = int_items(steps, "steps", n, 1);
  const std::vector<double> lm = float_items(lr_maxs, "lr_maxs", n, -1.0);
  const std::vector<double> ws = float_items(weight_sums, "weight_sums", n, 0.0);
  std::vector<ScheduleFreeSched> sched(n);
  for (std::size_t i = 0; i < n; ++i) sched[i] = {lm[i], ws[i]};
  py::list out;
  if (dry_run || n == 0) return out;
  {
    py::gil_scoped_release release;
    if (gr.dtype == DType::f32)
      schedulefree_adamw_step(tensors<float>(gr, st), h, sched);
    else
      schedulefree_adamw_step(tensors<double>(gr, st), h, sched);
  }
  for (const ScheduleFreeSched& s : sched) out.append(py::make_tuple(s.lr_max, s.weight_sum));
  return out;
}

void schedulefree_lerp(py::handle params, py::handle zs, double beta1, bool to_eval, bool dry_run) {
  check_switch_beta1(beta1);
  Group gr = checked_group(params, py::none(), {{{"zs", zs, true}, kUnused}});
  if (dry_run || gr.p.empty()) return;
  const double w = to_eval ? 1.0 - 1.0 / beta1 : 1.0 - beta1;
  py::gil_scoped_release release;
  if (gr.dtype == DType::f32)
    schedulefree_switch(tensors<float>(gr, {}), w);
  else
    schedulefree_switch(tensors<double>(gr, {}), w);
}

}  // namespace

void register_optim_lionsf(py::module_& m) {
  m.def(
      "lion_step",
      [](py::handle params, py::handle grads, py::handle exp_avgs, double lr, double beta1,
         double beta2, double weight_decay, bool maximize, bool dry_run) {
        const LionHyper h{lr, beta1, beta2, weight_decay, maximize};
        run_group(params, grads, {{{"exp_avgs", exp_avgs, true}, kUnused, kUnused}}, py::none(),
                  dry_run, h, &lion_step<float>, &lion_step<double>);
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("weight_decay"), py::arg("maximize"), py::arg("dry_run") = false,
      "One Lion step over a group, in place (optax.lion with decoupled weight decay).");
  m.def(
      "schedulefree_adamw_step",
      [](py::handle params, py::handle grads, py::handle zs, py::handle exp_avg_sqs,
         py::handle steps, py::handle lr_maxs, py::handle weight_sums, double lr, double beta1,
         double beta2, double eps, double weight_decay, long long warmup_steps, double r,
         double weight_lr_power, bool dry_run) {
        const ScheduleFreeHyper h{lr,           beta1,        beta2, eps,
                                  weight_decay, warmup_steps, r,     weight_lr_power};
        return schedulefree_adamw(params, grads, zs, exp_avg_sqs, steps, lr_maxs, weight_sums, h,
                                  dry_run);
      },
      py::arg("params"), py::arg("grads"), py::arg("zs"), py::arg("exp_avg_sqs"), py::arg("steps"),
      py::arg("lr_maxs"), py::arg("weight_sums"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("weight_decay"), py::arg("warmup_steps"), py::arg("r"),
      py::arg("weight_lr_power"), py::arg("dry_run") = false,
      "One memory-lean Schedule-Free AdamW step over a group, in place (params hold y). "
      "Returns each tensor's (lr_max, weight_sum) after the step (an empty list on a dry run).");
  m.def("schedulefree_switch", &schedulefree_lerp, py::arg("params"), py::arg("zs"),
        py::arg("beta1"), py::arg("to_eval"), py::arg("dry_run") = false,
        "Schedule-Free train/eval switch, in place: params = params + (z - params) * w with "
        "w = 1 - 1/beta1 (to_eval: y to x) or 1 - beta1 (x to y).");
  m.def(
      "check_lion",
      [](double lr, double beta1, double beta2, double weight_decay) {
        check(LionHyper{lr, beta1, beta2, weight_decay, false});
      },
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("weight_decay"));
  m.def(
      "check_schedulefree_adamw",
      [](double lr, double beta1, double beta2, double eps, double weight_decay,
         long long warmup_steps, double r, double weight_lr_power) {
        check(ScheduleFreeHyper{lr, beta1, beta2, eps, weight_decay, warmup_steps, r,
                                weight_lr_power});
      },
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
      py::arg("warmup_steps"), py::arg("r"), py::arg("weight_lr_power"));
}

}  // namespace bind
}  // namespace cg
