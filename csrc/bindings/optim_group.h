// The optimizer group-step binding pattern shared by every optimizer binding file: validate a
// whole group (hyperparameters, then every array), release the GIL, call the driver.
#pragma once
#include <array>
#include <vector>

#include "bindings/arrays.h"
#include "optim/driver.h"

namespace cg {
namespace bind {

struct StateArg {
  const char* name;
  py::handle obj;
  bool used;  // required by this configuration; ignored otherwise
};
inline const StateArg kUnused{"", py::handle(), false};

template <class T, class Hyper>
void call_group(std::vector<py::array>& p, std::vector<py::array>& g,
                std::array<std::vector<py::array>, 3>& s, const std::vector<long long>& steps,
                const Hyper& h, void (*fn)(const std::vector<OptimTensor<T>>&, const Hyper&)) {
  std::vector<OptimTensor<T>> ts(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    OptimTensor<T>& x = ts[i];
    x.n = static_cast<std::size_t>(p[i].size());
    x.step = steps.empty() ? 1 : steps[i];
    x.p = static_cast<T*>(p[i].mutable_data());
    x.g = static_cast<const T*>(g[i].data());
    T** slots[3] = {&x.s0, &x.s1, &x.s2};
    for (int k = 0; k < 3; ++k)
      if (!s[k].empty()) *slots[k] = static_cast<T*>(s[k][i].mutable_data());
  }
  py::gil_scoped_release release;
  fn(ts, h);
}

// Validates a whole group (nothing is written before every check has passed), then runs it
// unless dry_run (which lets a caller validate several groups before updating any).
template <class Hyper>
void run_group(py::handle params, py::handle grads, std::array<StateArg, 3> states,
               py::handle steps, bool dry_run, const Hyper& h,
               void (*f32)(const std::vector<OptimTensor<float>>&, const Hyper&),
               void (*f64)(const std::vector<OptimTensor<double>>&, const Hyper&)) {
  check(h);
  const py::list pl = as_list(params, "params");
  const std::size_t n = pl.size();
  const py::list gl = as_list(grads, "grads", n);
  std::vector<py::array> p, g;
  std::array<std::vector<py::array>, 3> s;
  std::vector<long long> st;
  if (n == 0) return;
  const DType dtype = float_dtype(pl[0], "params[0]");
  for (std::size_t i = 0; i < n; ++i) {
    p.push_back(checked(pl[i], item_name("params", i), dtype, true));
    const auto shape = shape_of(p.back());
    g.push_back(checked(gl[i], item_name("grads", i), dtype, false, &shape));
  }
  for (int k = 0; k < 3; ++k) {
    if (!states[k].used) continue;
    const py::list sl = as_list(states[k].obj, states[k].name, n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto shape = shape_of(p[i]);
      s[k].push_back(checked(sl[i], item_name(states[k].name, i), dtype, true, &shape));
    }
  }
  if (!steps.is_none()) st = int_items(steps, "steps", n, 1);
  if (dry_run) return;
  if (dtype == DType::f32)
    call_group<float>(p, g, s, st, h, f32);
  else
    call_group<double>(p, g, s, st, h, f64);
}

}  // namespace bind
}  // namespace cg
