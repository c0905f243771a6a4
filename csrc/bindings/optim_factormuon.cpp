// Adafactor and Muon group steps: validate every array and hyperparameter, release the GIL, call
// the driver. Nothing is written before every check of the group has passed.
#include <pybind11/stl.h>

#include <limits>
#include <optional>

#include "bindings/arrays.h"
#include "optim/factormuon_driver.h"

namespace cg {
namespace bind {
namespace {

template <class T>
void fill_ptrs(std::vector<AdafactorTensor<T>>& ts, std::vector<py::array>& p,
               std::vector<py::array>& g, std::vector<py::array>& rv, std::vector<py::array>& cv,
               std::vector<py::array>& v) {
  for (std::size_t i = 0; i < ts.size(); ++i) {
    ts[i].p = mptr<T>(p[i]);
    ts[i].g = cptr<T>(g[i]);
    if (ts[i].factored) {
      ts[i].row_var = mptr<T>(rv[i]);
      ts[i].col_var = mptr<T>(cv[i]);
    } else {
      ts[i].variance = mptr<T>(v[i]);
    }
  }
}

void adafactor(py::handle params, py::handle grads, py::handle row_vars, py::handle col_vars,
               py::handle variances, py::handle steps, double lr, double beta2_decay,
               std::optional<double> eps1, double eps2, double d, double weight_decay,
               bool maximize, bool dry_run) {
  AdafactorHyper h{lr, beta2_decay, eps1.value_or(0.0), eps2, d, weight_decay, maximize};
  check(h);
  const py::list pl = as_list(params, "params");
  const std::size_t n = pl.size();
  const py::list gl = as_list(grads, "grads", n);
  const py::list rl = as_list(row_vars, "row_vars", n), cl = as_list(col_vars, "col_vars", n);
  const py::list vl = as_list(variances, "variances", n);
  if (n == 0) return;
  const DType dtype = float_dtype(pl[0], "params[0]");
  if (!eps1)
    h.eps1 = dtype == DType::f32 ? double(std::numeric_limits<float>::epsilon())
                                 : std::numeric_limits<double>::epsilon();
  std::vector<py::array> p(n), g(n), rv(n), cv(n), v(n);
  std::vector<AdafactorTensor<float>> t32(dtype == DType::f32 ? n : 0);
  std::vector<AdafactorTensor<double>> t64(dtype == DType::f64 ? n : 0);
  const std::vector<long long> st = int_items(steps, "steps", n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    p[i] = checked(pl[i], item_name("params", i), dtype, true);
    auto shape = shape_of(p[i]);
    g[i] = checked(gl[i], item_name("grads", i), dtype, false, &shape);
    AdafactorTensor<double> x;  // shape and step only; copied into t32 / t64 below
    x.step = st[i];
    const std::size_t nd = shape.size();
    if (nd >= 2) {
      x.factored = true;
      x.rows = static_cast<std::size_t>(shape[nd - 2]);
      x.cols = static_cast<std::size_t>(shape[nd - 1]);
      for (std::size_t k = 0; k + 2 < nd; ++k) x.batch *= static_cast<std::size_t>(shape[k]);
      auto rs = shape, cs = shape;
      rs[nd - 1] = 1;
      cs[nd - 2] = 1;
      rv[i] = checked(rl[i], item_name("row_vars", i), dtype, true, &rs);
      cv[i] = checked(cl[i], item_name("col_vars", i), dtype, true, &cs);
    } else {
      x.cols = static_cast<std::size_t>(p[i].size());
      v[i] = checked(vl[i], item_name("variances", i), dtype, true, &shape);
    }
    if (dtype == DType::f32)
      t32[i] = {x.batch, x.rows, x.cols, x.factored, x.step};
    else
      t64[i] = x;
  }
  if (dry_run) return;
  if (dtype == DType::f32) {
    fill_ptrs(t32, p, g, rv, cv, v);
    py::gil_scoped_release release;
    adafactor_step(t32, h);
  } else {
    fill_ptrs(t64, p, g, rv, cv, v);
    py::gil_scoped_release release;
    adafactor_step(t64, h);
  }
}

template <class T>
void muon_call(std::vector<py::array>& p, std::vector<py::array>& g, std::vector<py::array>& b,
               const MuonHyper& h) {
  std::vector<MuonTensor<T>> ts(p.size());
  for (std::size_t i = 0; i < p.size(); ++i)
    ts[i] = {dim(p[i], 0), dim(p[i], 1), mptr<T>(p[i]), cptr<T>(g[i]), mptr<T>(b[i])};
  py::gil_scoped_release release;
  muon_step(ts, h);
}

MuonAdjustLr parse_adjust(py::handle fn) {
  if (fn.is_none()) return MuonAdjustLr::original;
  if (!py::isinstance<py::str>(fn))
    throw py::type_error("adjust_lr_fn must be None, 'original' or 'match_rms_adamw'");
  const std::string s = fn.cast<std::string>();
  if (s == "original") return MuonAdjustLr::original;
  if (s == "match_rms_adamw") return MuonAdjustLr::match_rms_adamw;
  throw std::invalid_argument("adjust_lr_fn must be None, 'original' or 'match_rms_adamw', got '" +
                              s + "'");
}

void muon(py::handle params, py::handle grads, py::handle momentum_buffers, double lr,
          double weight_decay, double momentum, bool nesterov, double a, double b, double c,
          double eps, long long ns_steps, py::handle adjust_lr_fn, bool dry_run) {
  const MuonHyper h{
      lr, weight_decay, momentum, nesterov, a, b, c, eps, ns_steps, parse_adjust(adjust_lr_fn)};
  check(h);
  const py::list pl = as_list(params, "params");
  const std::size_t n = pl.size();
  const py::list gl = as_list(grads, "grads", n);
  const py::list bl = as_list(momentum_buffers, "momentum_buffers", n);
  if (n == 0) return;
  const DType dtype = float_dtype(pl[0], "params[0]");
  std::vector<py::array> p(n), g(n), buf(n);
  for (std::size_t i = 0; i < n; ++i) {
    p[i] = checked(pl[i], item_name("params", i), dtype, true);
    const auto shape = shape_of(p[i]);
    if (shape.size() != 2)
      throw std::invalid_argument(item_name("params", i) + " has shape " + shape_text(shape) +
                                  "; Muon updates 2-D parameters only (optimize the others, "
                                  "e.g. biases, with AdamW)");
    g[i] = checked(gl[i], item_name("grads", i), dtype, false, &shape);
    buf[i] = checked(bl[i], item_name("momentum_buffers", i), dtype, true, &shape);
  }
  if (dry_run) return;
  if (dtype == DType::f32)
    muon_call<float>(p, g, buf, h);
  else
    muon_call<double>(p, g, buf, h);
}

}  // namespace

void register_factormuon(py::module_& m) {
  m.def("adafactor_step", &adafactor, py::arg("params"), py::arg("grads"), py::arg("row_vars"),
        py::arg("col_vars"), py::arg("variances"), py::arg("steps"), py::arg("lr"),
        py::arg("beta2_decay"), py::arg("eps1"), py::arg("eps2"), py::arg("d"),
        py::arg("weight_decay"), py::arg("maximize"), py::arg("dry_run") = false,
        "One Adafactor step over a group, in place. Params of ndim >= 2 use row_vars[i] "
        "(shape (..., rows, 1)) and col_vars[i] ((..., 1, cols)), others variances[i]; the "
        "unused entries are ignored (None). eps1 None means the dtype's machine epsilon.");
  m.def("muon_step", &muon, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
        py::arg("lr"), py::arg("weight_decay"), py::arg("momentum"), py::arg("nesterov"),
        py::arg("a"), py::arg("b"), py::arg("c"), py::arg("eps"), py::arg("ns_steps"),
        py::arg("adjust_lr_fn"), py::arg("dry_run") = false,
        "One Muon step over a group of 2-D params, in place.");
  m.def(
      "check_adafactor",
      [](double lr, double beta2_decay, std::optional<double> eps1, double eps2, double d,
         double weight_decay) {
        check(AdafactorHyper{lr, beta2_decay, eps1.value_or(0.0), eps2, d, weight_decay, false});
      },
      py::arg("lr"), py::arg("beta2_decay"), py::arg("eps1"), py::arg("eps2"), py::arg("d"),
      py::arg("weight_decay"));
  m.def(
      "check_muon",
      [](double lr, double weight_decay, double momentum, double a, double b, double c, double eps,
         long long ns_steps, py::handle adjust_lr_fn) {
        check(MuonHyper{lr, weight_decay, momentum, true, a, b, c, eps, ns_steps,
                        parse_adjust(adjust_lr_fn)});
      },
      py::arg("lr"), py::arg("weight_decay"), py::arg("momentum"), py::arg("a"), py::arg("b"),
      py::arg("c"), py::arg("eps"), py::arg("ns_steps"), py::arg("adjust_lr_fn"));
}

}  // namespace bind
}  // namespace cg
