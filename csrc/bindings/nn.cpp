// Layer kernels: GEMM with fused epilogue, the dense layer's forward/backward and activations.
// Every argument is validated before anything is written; the GIL is released around the kernels.
#include <cmath>
#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "nn/driver.h"

namespace cg {
namespace bind {
namespace {

using Shape = std::vector<py::ssize_t>;

template <class T>
void run_gemm(const py::array& a, bool ta, const py::array& b, bool tb, py::array& out,
              bool accumulate, const py::array* bias, Act act, double slope) {
  GemmArgs<T> g = gemm_args(dim(out, 0), dim(out, 1), dim(a, ta ? 0 : 1), cptr<T>(a), dim(a, 1), ta,
                            cptr<T>(b), dim(b, 1), tb, mptr<T>(out), dim(out, 1));
  g.accumulate = accumulate;
  g.bias = bias ? cptr<T>(*bias) : nullptr;
  g.act = act;
  g.slope = T(slope);
  py::gil_scoped_release release;
  gemm(g);
}

// Validates and runs out = act(op(a) @ op(b) + beta*out + bias); names are the caller's.
void gemm_call(py::handle ha, py::handle hb, py::handle hout, bool ta, bool tb, double beta,
               py::handle hbias, py::handle activation, double slope, const char* const names[4]) {
  const Act act = parse_act(activation);
  finite(slope, "negative_slope", false);
  if (beta != 0.0 && beta != 1.0)
    throw std::invalid_argument("beta must be 0.0 or 1.0, got " + std::to_string(beta));
  const DType dt = float_dtype(ha, names[0]);
  const py::array a = arg(ha, names[0], dt, false, 2);
  const std::size_t m = dim(a, ta ? 1 : 0), k = dim(a, ta ? 0 : 1);
  const py::array b = arg(hb, names[1], dt, false, 2);
  if (dim(b, tb ? 1 : 0) != k)
    throw std::invalid_argument(std::string(names[1]) + " has shape " + shape_text(shape_of(b)) +
                                "; its " + (tb ? "second" : "first") + " dimension must be " +
                                std::to_string(k) + " to match " + names[0]);
  const std::size_t n = dim(b, tb ? 0 : 1);
  const Shape oshape{static_cast<py::ssize_t>(m), static_cast<py::ssize_t>(n)};
  py::array out = arg(hout, names[2], dt, true, 2, &oshape);
  no_overlap(out, names[2], a, names[0]);
  no_overlap(out, names[2], b, names[1]);
  py::array bias;
  if (!hbias.is_none()) {
    const Shape bshape{static_cast<py::ssize_t>(n)};
    bias = arg(hbias, names[3], dt, false, 1, &bshape);
    no_overlap(out, names[2], bias, names[3]);
  }
  const py::array* pb = hbias.is_none() ? nullptr : &bias;
  if (dt == DType::f32)
    run_gemm<float>(a, ta, b, tb, out, beta == 1.0, pb, act, slope);
  else
    run_gemm<double>(a, ta, b, tb, out, beta == 1.0, pb, act, slope);
}

struct BackwardArrays {
  py::array x, w, y, dout, dyp, dw, db, dx;
  bool has_db, has_dx;
};

template <class T>
double run_backward(BackwardArrays& r, Act act, double slope, double a_l1, double a_l2, double w_l1,
                    double w_l2) {
  DenseBackwardArgs<T> a;
  a.batch = dim(r.x, 0);
  a.in = dim(r.x, 1);
  a.out = dim(r.w, 1);
  a.x = cptr<T>(r.x);
  a.w = cptr<T>(r.w);
  a.y = cptr<T>(r.y);
  a.dout = cptr<T>(r.dout);
  a.dyp = mptr<T>(r.dyp);
  a.dw = mptr<T>(r.dw);
  a.db = r.has_db ? mptr<T>(r.db) : nullptr;
  a.dx = r.has_dx ? mptr<T>(r.dx) : nullptr;
  set_dense_coeffs(a, act, slope, a_l1, a_l2, w_l1, w_l2);
  std::array<double, 2> sums;
  {
    py::gil_scoped_release release;
    sums = dense_backward(a);
  }
  return penalty_value(w_l1, w_l2, sums);
}

template <class T>
void run_activation(const py::array& x, py::array& out, Act act, double slope) {
  const std::size_t n = static_cast<std::size_t>(x.size());
  const T* px = cptr<T>(x);
  T* po = mptr<T>(out);
  py::gil_scoped_release release;
  activation(n, px, po, act, T(slope));
}

}  // namespace

void register_nn(py::module_& m) {
  m.def(
      "gemm",
      [](py::handle a, py::handle b, py::handle out, bool trans_a, bool trans_b, double beta,
         py::handle bias, py::handle activation, double negative_slope) {
        static const char* const names[4] = {"a", "b", "out", "bias"};
        gemm_call(a, b, out, trans_a, trans_b, beta, bias, activation, negative_slope, names);
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::kw_only(), py::arg("trans_a") = false,
      py::arg("trans_b") = false, py::arg("beta") = 0.0, py::arg("bias") = py::none(),
      py::arg("activation") = "linear", py::arg("negative_slope") = 0.01,
      "out = act(op(a) @ op(b) + beta*out + bias), op(x) = x.T when trans_x. Arrays are float32 "
      "or float64 alike, C-contiguous; out (m, n) is preallocated and written in place; beta is "
      "0.0 or 1.0; bias (n,) or None; activation None/'linear', 'relu', 'leaky_relu', 'sigmoid', "
      "'tanh'.");
  m.def(
      "dense_forward",
      [](py::handle x, py::handle weight, py::handle bias, py::handle out, py::handle activation,
         double negative_slope) {
        static const char* const names[4] = {"x", "weight", "out", "bias"};
        gemm_call(x, weight, out, false, false, 0.0, bias, activation, negative_slope, names);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"),
      py::arg("activation") = py::none(), py::arg("negative_slope") = 0.01,
      "Dense forward: out = act(x @ weight + bias), one GEMM with the epilogue fused.");
  m.def(
      "dense_backward",
      [](py::handle x, py::handle weight, py::handle y, py::handle dout, py::handle dyp,
         py::handle dweight, py::handle dbias, py::handle dx, py::handle activation,
         double negative_slope, double activity_l1, double activity_l2, double weight_l1,
         double weight_l2) {
        const Act act = parse_act(activation);
        finite(negative_slope, "negative_slope", act == Act::leaky_relu);
        finite(activity_l1, "activity_l1", true);
        finite(activity_l2, "activity_l2", true);
        finite(weight_l1, "weight_l1", true);
        finite(weight_l2, "weight_l2", true);
        const DType dt = float_dtype(x, "x");
        BackwardArrays r;
        r.x = arg(x, "x", dt, false, 2);
        r.w = arg(weight, "weight", dt, false, 2);
        if (dim(r.w, 0) != dim(r.x, 1))
          throw std::invalid_argument("weight has shape " + shape_text(shape_of(r.w)) +
                                      "; its first dimension must be " +
                                      std::to_string(dim(r.x, 1)) + " to match x");
        const py::ssize_t bsz = r.x.shape(0), in = r.x.shape(1), out = r.w.shape(1);
        const Shape ys{bsz, out}, ws{in, out}, bs{out}, xs{bsz, in};
        r.y = arg(y, "y", dt, false, 2, &ys);
        r.dout = arg(dout, "dout", dt, false, 2, &ys);
        r.dyp = arg(dyp, "dyp", dt, true, 2, &ys);
        r.dw = arg(dweight, "dweight", dt, true, 2, &ws);
        r.has_db = !dbias.is_none();
        r.has_dx = !dx.is_none();
        if (r.has_db) r.db = arg(dbias, "dbias", dt, true, 1, &bs);
        if (r.has_dx) r.dx = arg(dx, "dx", dt, true, 2, &xs);
        const std::pair<const py::array*, const char*> ins[] = {
            {&r.x, "x"}, {&r.w, "weight"}, {&r.y, "y"}, {&r.dout, "dout"}};
        std::vector<std::pair<const py::array*, const char*>> outs = {{&r.dyp, "dyp"},
                                                                      {&r.dw, "dweight"}};
        if (r.has_db) outs.push_back({&r.db, "dbias"});
        if (r.has_dx) outs.push_back({&r.dx, "dx"});
        for (std::size_t i = 0; i < outs.size(); ++i) {
          for (const auto& o : ins) no_overlap(*outs[i].first, outs[i].second, *o.first, o.second);
          for (std::size_t j = 0; j < i; ++j)
            no_overlap(*outs[i].first, outs[i].second, *outs[j].first, outs[j].second);
        }
        if (dt == DType::f32)
          return run_backward<float>(r, act, negative_slope, activity_l1, activity_l2, weight_l1,
                                     weight_l2);
        return run_backward<double>(r, act, negative_slope, activity_l1, activity_l2, weight_l1,
                                    weight_l2);
      },
      py::arg("x"), py::arg("weight"), py::arg("y"), py::arg("dout"), py::arg("dyp"),
      py::arg("dweight"), py::arg("dbias"), py::arg("dx"), py::kw_only(),
      py::arg("activation") = py::none(), py::arg("negative_slope") = 0.01,
      py::arg("activity_l1") = 0.0, py::arg("activity_l2") = 0.0, py::arg("weight_l1") = 0.0,
      py::arg("weight_l2") = 0.0,
      "Dense backward from the saved input x and output y = act(x @ weight + b): "
      "dyp = (dout + (activity_l1*sign(y) + 2*activity_l2*y)/batch) * act'(y); "
      "dweight = x.T @ dyp + weight_l1*sign(weight) + 2*weight_l2*weight; dbias = dyp.sum(0) "
      "(if not None); dx = dyp @ weight.T (if not None). Arrays written in place. Returns the "
      "weight penalty's value weight_l1*sum|weight| + weight_l2*sum weight^2 (in double; 0.0 "
      "without a weight penalty).");
  m.def(
      "activation",
      [](py::handle x, py::handle out, py::handle activation, double negative_slope) {
        const Act act = parse_act(activation);
        finite(negative_slope, "negative_slope", false);
        const DType dt = float_dtype(x, "x");
        const py::array xa = checked(x, "x", dt, false);
        const Shape s = shape_of(xa);
        py::array oa = arg(out, "out", dt, true, s.size(), &s);
        if (oa.data() != xa.data()) no_overlap(oa, "out", xa, "x");
        if (dt == DType::f32)
          run_activation<float>(xa, oa, act, negative_slope);
        else
          run_activation<double>(xa, oa, act, negative_slope);
      },
      py::arg("x"), py::arg("out"), py::arg("activation"), py::arg("negative_slope") = 0.01,
      "out = act(x) elementwise (out may be x itself, or must not overlap it).");
  m.def(
      "gemm_blocking",
      [](py::handle dtype) {
        const py::dtype d = py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype));
        GemmBlocking b;
        if (d.kind() == 'f' && d.itemsize() == 4)
          b = gemm_blocking<float>();
        else if (d.kind() == 'f' && d.itemsize() == 8)
          b = gemm_blocking<double>();
        else
          throw py::type_error("dtype must be float32 or float64");
        py::dict r;
        r["mr"] = b.mr;
        r["nr"] = b.nr;
        r["mc"] = b.mc;
        r["kc"] = b.kc;
        r["nc"] = b.nc;
        return r;
      },
      py::arg("dtype"),
      "The current ISA's GEMM register tile (mr x nr) and cache blocks (mc, kc, nc) for dtype.");
}

}  // namespace bind
}  // namespace cg
