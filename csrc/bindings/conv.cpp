// Convolution kernels: conv2d forward/backward over NHWC images (pooling in bindings/pool.cpp).
// Every argument is validated before anything is written; the GIL is released around the kernels.
#include "nn/conv.h"

#include <string>
#include <utility>

#include "bindings/arrays.h"
#include "bindings/conv_geom.h"

namespace cg {
namespace bind {

void register_pool(py::module_& m);

namespace {

using Shape = std::vector<py::ssize_t>;

// The geometry of a conv of x (n, h, w, c) with weight (kh, kw, c / groups, cout); ValueError
// naming the argument on any mismatch.
ConvGeom conv_geom(const py::array& x, const py::array& w, py::handle stride, py::handle padding,
                   py::handle dilation, long long groups) {
  if (groups < 1) throw std::invalid_argument("groups must be >= 1, got " + std::to_string(groups));
  ConvGeom g;
  g.n = dim(x, 0);
  g.h = dim(x, 1);
  g.w = dim(x, 2);
  g.c = dim(x, 3);
  g.groups = static_cast<std::size_t>(groups);
  g.kh = dim(w, 0);
  g.kw = dim(w, 1);
  g.cout = dim(w, 3);
  if (g.c % g.groups != 0 || g.cout % g.groups != 0)
    throw std::invalid_argument("groups (" + std::to_string(groups) +
                                ") must divide the input channels (" + std::to_string(g.c) +
                                ") and the output channels (" + std::to_string(g.cout) + ")");
  if (dim(w, 2) != g.c / g.groups)
    throw std::invalid_argument("weight has shape " + shape_text(shape_of(w)) +
                                "; its third dimension must be in_channels / groups = " +
                                std::to_string(g.c / g.groups) + " to match x");
  if (g.kh == 0 || g.kw == 0 || g.cout == 0)
    throw std::invalid_argument("weight has shape " + shape_text(shape_of(w)) +
                                "; kernel sizes and out_channels must be >= 1");
  set_window(g, stride, padding, dilation, "kernel");
  return g;
}

struct ConvArrays {
  py::array x, w, b, y, dout, dyp, dw, db, dx;
  bool has_b = false, has_db = false, has_dx = false;
};

template <class T>
void run_forward(const ConvGeom& g, ConvArrays& r, Act act, double slope) {
  const T* x = cptr<T>(r.x);
  const T* w = cptr<T>(r.w);
  const T* b = r.has_b ? cptr<T>(r.b) : nullptr;
  T* y = mptr<T>(r.y);
  py::gil_scoped_release release;
  conv2d_forward<T>(g, x, w, b, y, act, T(slope));
}

template <class T>
double run_backward(const ConvGeom& g, ConvArrays& r, Act act, double slope, double a_l1,
                    double a_l2, double w_l1, double w_l2) {
  ConvBackwardArgs<T> a;
  a.g = g;
  a.x = cptr<T>(r.x);
  a.w = cptr<T>(r.w);
  a.y = cptr<T>(r.y);
  a.dout = cptr<T>(r.dout);
  a.dyp = mptr<T>(r.dyp);
  a.dw = mptr<T>(r.dw);
  a.db = r.has_db ? mptr<T>(r.db) : nullptr;
  a.dx = r.has_dx ? mptr<T>(r.dx) : nullptr;
  // The activity penalties are per image (divided by the batch size n, as Dense's by its rows).
  DenseBackwardArgs<T> coeffs;
  coeffs.batch = g.n;
  set_dense_coeffs(coeffs, act, slope, a_l1, a_l2, w_l1, w_l2);
  a.grad = coeffs.grad;
  a.weight_l1 = coeffs.weight_l1;
  a.weight_2l2 = coeffs.weight_2l2;
  std::array<double, 2> sums;
  {
    py::gil_scoped_release release;
    sums = conv2d_backward(a);
  }
  return penalty_value(w_l1, w_l2, sums);
}

Shape out_shape(const ConvGeom& g) {
  return {static_cast<py::ssize_t>(g.n), static_cast<py::ssize_t>(g.oh),
          static_cast<py::ssize_t>(g.ow), static_cast<py::ssize_t>(g.cout)};
}

// ValueError if any written array shares memory with another argument.
void check_overlaps(const std::vector<std::pair<const py::array*, const char*>>& ins,
                    const std::vector<std::pair<const py::array*, const char*>>& outs) {
  for (std::size_t i = 0; i < outs.size(); ++i) {
    for (const auto& o : ins) no_overlap(*outs[i].first, outs[i].second, *o.first, o.second);
    for (std::size_t j = 0; j < i; ++j)
      no_overlap(*outs[i].first, outs[i].second, *outs[j].first, outs[j].second);
  }
}

}  // namespace

void register_conv(py::module_& m) {
  m.def(
      "conv2d_forward",
      [](py::handle x, py::handle weight, py::handle bias, py::handle out, py::handle stride,
         py::handle padding, py::handle dilation, long long groups, py::handle activation,
         double negative_slope) {
        const Act act = parse_act(activation);
        finite(negative_slope, "negative_slope", false);
        const DType dt = float_dtype(x, "x");
        ConvArrays r;
        r.x = arg(x, "x", dt, false, 4);
        r.w = arg(weight, "weight", dt, false, 4);
        const ConvGeom g = conv_geom(r.x, r.w, stride, padding, dilation, groups);
        const Shape ys = out_shape(g), bs{static_cast<py::ssize_t>(g.cout)};
        r.y = arg(out, "out", dt, true, 4, &ys);
        r.has_b = !bias.is_none();
        if (r.has_b) r.b = arg(bias, "bias", dt, false, 1, &bs);
        std::vector<std::pair<const py::array*, const char*>> ins = {{&r.x, "x"}, {&r.w, "weight"}};
        if (r.has_b) ins.push_back({&r.b, "bias"});
        check_overlaps(ins, {{&r.y, "out"}});
        if (dt == DType::f32)
          run_forward<float>(g, r, act, negative_slope);
        else
          run_forward<double>(g, r, act, negative_slope);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::kw_only(),
      py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups") = 1,
      py::arg("activation") = py::none(), py::arg("negative_slope") = 0.01,
      "2-D convolution over NHWC: out (n, oh, ow, cout) = act(conv(x, weight) + bias), x (n, h, "
      "w, c), weight (kh, kw, c / groups, cout), bias (cout,) or None; stride and dilation are "
      "(y, x) pairs, padding (top, bottom, left, right) zeros. An implicit GEMM with the bias and "
      "activation fused into its store.");
  m.def(
      "conv2d_backward",
      [](py::handle x, py::handle weight, py::handle y, py::handle dout, py::handle dyp,
         py::handle dweight, py::handle dbias, py::handle dx, py::handle stride, py::handle padding,
         py::handle dilation, long long groups, py::handle activation, double negative_slope,
         double activity_l1, double activity_l2, double weight_l1, double weight_l2) {
        const Act act = parse_act(activation);
        finite(negative_slope, "negative_slope", act == Act::leaky_relu);
        finite(activity_l1, "activity_l1", true);
        finite(activity_l2, "activity_l2", true);
        finite(weight_l1, "weight_l1", true);
        finite(weight_l2, "weight_l2", true);
        const DType dt = float_dtype(x, "x");
        ConvArrays r;
        r.x = arg(x, "x", dt, false, 4);
        r.w = arg(weight, "weight", dt, false, 4);
        const ConvGeom g = conv_geom(r.x, r.w, stride, padding, dilation, groups);
        const Shape ys = out_shape(g), ws = shape_of(r.w), xs = shape_of(r.x);
        const Shape bs{static_cast<py::ssize_t>(g.cout)};
        r.y = arg(y, "y", dt, false, 4, &ys);
        r.dout = arg(dout, "dout", dt, false, 4, &ys);
        r.dyp = arg(dyp, "dyp", dt, true, 4, &ys);
        r.dw = arg(dweight, "dweight", dt, true, 4, &ws);
        r.has_db = !dbias.is_none();
        r.has_dx = !dx.is_none();
        if (r.has_db) r.db = arg(dbias, "dbias", dt, true, 1, &bs);
        if (r.has_dx) r.dx = arg(dx, "dx", dt, true, 4, &xs);
        std::vector<std::pair<const py::array*, const char*>> outs = {{&r.dyp, "dyp"},
                                                                      {&r.dw, "dweight"}};
        if (r.has_db) outs.push_back({&r.db, "dbias"});
        if (r.has_dx) outs.push_back({&r.dx, "dx"});
        check_overlaps({{&r.x, "x"}, {&r.w, "weight"}, {&r.y, "y"}, {&r.dout, "dout"}}, outs);
        if (dt == DType::f32)
          return run_backward<float>(g, r, act, negative_slope, activity_l1, activity_l2, weight_l1,
                                     weight_l2);
        return run_backward<double>(g, r, act, negative_slope, activity_l1, activity_l2, weight_l1,
                                    weight_l2);
      },
      py::arg("x"), py::arg("weight"), py::arg("y"), py::arg("dout"), py::arg("dyp"),
      py::arg("dweight"), py::arg("dbias"), py::arg("dx"), py::kw_only(), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("groups") = 1,
      py::arg("activation") = py::none(), py::arg("negative_slope") = 0.01,
      py::arg("activity_l1") = 0.0, py::arg("activity_l2") = 0.0, py::arg("weight_l1") = 0.0,
      py::arg("weight_l2") = 0.0,
      "Conv2D backward from the saved input x and output y = act(conv(x, weight) + b): "
      "dyp = (dout + (activity_l1*sign(y) + 2*activity_l2*y)/n) * act'(y); dweight = "
      "patches^T @ dyp + weight_l1*sign(weight) + 2*weight_l2*weight; dbias = dyp summed over "
      "(n, oh, ow) (if not None); dx = col2im(dyp @ weight^T) (if not None). Returns the weight "
      "penalty weight_l1*sum|weight| + weight_l2*sum weight^2 (0.0 without one).");
  register_pool(m);
}

}  // namespace bind
}  // namespace cg
