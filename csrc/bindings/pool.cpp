// Pooling kernels over NHWC images: max pooling (with the argmax kept for backward) and
// average pooling. Every argument is validated before anything is written; the GIL is released
// around the kernels.
#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "bindings/conv_geom.h"
#include "nn/conv.h"

namespace cg {
namespace bind {
namespace {

using Shape = std::vector<py::ssize_t>;

// The geometry of a pool over x (n, h, w, c): pool_size and stride (y, x) pairs, padding a
// (y, x) pair of zeros on both sides, at most half the pool (as torch).
ConvGeom pool_geom(const Shape& xs, py::handle pool_size, py::handle stride, py::handle padding) {
  ConvGeom g;
  g.n = static_cast<std::size_t>(xs[0]);
  g.h = static_cast<std::size_t>(xs[1]);
  g.w = static_cast<std::size_t>(xs[2]);
  g.c = g.cout = static_cast<std::size_t>(xs[3]);
  const auto k = int_items(pool_size, "pool_size", 2, 1);
  const auto p = int_items(padding, "padding", 2, 0);
  if (k[0] > (1LL << 31) || k[1] > (1LL << 31))
    throw std::invalid_argument("pool_size values must be at most 2^31");
  g.kh = static_cast<std::size_t>(k[0]);
  g.kw = static_cast<std::size_t>(k[1]);
  if (2 * p[0] > k[0] || 2 * p[1] > k[1])
    throw std::invalid_argument("padding must be at most half of pool_size");
  const py::tuple pads = py::make_tuple(p[0], p[0], p[1], p[1]);
  set_window(g, stride, pads, py::make_tuple(1, 1), "pool");
  return g;
}

Shape out_shape(const ConvGeom& g) {
  return {static_cast<py::ssize_t>(g.n), static_cast<py::ssize_t>(g.oh),
          static_cast<py::ssize_t>(g.ow), static_cast<py::ssize_t>(g.c)};
}

// An int64 array of `shape`, C-contiguous and aligned (writeable when writable).
py::array int64_array(py::handle obj, const char* name, const Shape& shape, bool writable) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy.ndarray of int64");
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<std::int64_t>()))
    throw py::type_error(std::string(name) + " has dtype " +
                         py::str(a.dtype()).cast<std::string>() + "; expected int64");
  if (!(a.flags() & py::array::c_style) || !(a.flags() & 0x0100))
    throw std::invalid_argument(std::string(name) + " must be C-contiguous and aligned");
  if (shape_of(a) != shape)
    throw std::invalid_argument(std::string(name) + " has shape " + shape_text(shape_of(a)) +
                                "; expected " + shape_text(shape));
  if (writable && !a.writeable()) throw std::invalid_argument(std::string(name) + " is read-only");
  return a;
}

template <class T>
void run_max_forward(const ConvGeom& g, const py::array& x, py::array& y, py::array& am) {
  const T* px = cptr<T>(x);
  T* py_ = mptr<T>(y);
  std::int64_t* pa = mptr<std::int64_t>(am);
  py::gil_scoped_release release;
  maxpool2d_forward<T>(g, px, py_, pa);
}

template <class T>
void run_max_backward(const ConvGeom& g, const py::array& d, const py::array& am, py::array& dx) {
  const T* pd = cptr<T>(d);
  const std::int64_t* pa = cptr<std::int64_t>(am);
  T* px = mptr<T>(dx);
  py::gil_scoped_release release;
  maxpool2d_backward<T>(g, pd, pa, px);
}

template <class T>
void run_avg(const ConvGeom& g, const py::array& in, py::array& out, bool forward) {
  const T* pi = cptr<T>(in);
  T* po = mptr<T>(out);
  py::gil_scoped_release release;
  if (forward)
    avgpool2d_forward<T>(g, pi, po);
  else
    avgpool2d_backward<T>(g, pi, po);
}

}  // namespace

void register_pool(py::module_& m) {
  m.def(
      "maxpool2d_forward",
      [](py::handle x, py::handle out, py::handle argmax, py::handle pool_size, py::handle stride,
         py::handle padding) {
        const DType dt = float_dtype(x, "x");
        const py::array xa = arg(x, "x", dt, false, 4);
        const ConvGeom g = pool_geom(shape_of(xa), pool_size, stride, padding);
        const Shape ys = out_shape(g);
        py::array ya = arg(out, "out", dt, true, 4, &ys);
        py::array am = int64_array(argmax, "argmax", ys, true);
        no_overlap(ya, "out", xa, "x");
        no_overlap(am, "argmax", xa, "x");
        no_overlap(am, "argmax", ya, "out");
        if (dt == DType::f32)
          run_max_forward<float>(g, xa, ya, am);
        else
          run_max_forward<double>(g, xa, ya, am);
      },
      py::arg("x"), py::arg("out"), py::arg("argmax"), py::kw_only(), py::arg("pool_size"),
      py::arg("stride"), py::arg("padding"),
      "Max pooling over NHWC x (n, h, w, c): out (n, oh, ow, c) the window maxima and argmax "
      "(int64, same shape) their positions iy*w + ix in the image (the first maximum in window "
      "order; NaN propagates). Padding (y, x) is implicit -inf, at most half the pool.");
  m.def(
      "maxpool2d_backward",
      [](py::handle dout, py::handle argmax, py::handle dx, py::handle pool_size, py::handle stride,
         py::handle padding) {
        const DType dt = float_dtype(dx, "dx");
        py::array dxa = arg(dx, "dx", dt, true, 4);
        const ConvGeom g = pool_geom(shape_of(dxa), pool_size, stride, padding);
        const Shape ys = out_shape(g);
        const py::array da = arg(dout, "dout", dt, false, 4, &ys);
        const py::array am = int64_array(argmax, "argmax", ys, false);
        no_overlap(dxa, "dx", da, "dout");
        no_overlap(dxa, "dx", am, "argmax");
        const std::int64_t* pa = cptr<std::int64_t>(am);
        const std::size_t count = static_cast<std::size_t>(am.size()), hw = g.h * g.w;
        for (std::size_t i = 0; i < count; ++i)
          if (pa[i] < 0 || static_cast<std::size_t>(pa[i]) >= hw)
            throw std::invalid_argument("argmax must be in [0, " + std::to_string(hw) +
                                        "), found " + std::to_string(pa[i]));
        if (dt == DType::f32)
          run_max_backward<float>(g, da, am, dxa);
        else
          run_max_backward<double>(g, da, am, dxa);
      },
      py::arg("dout"), py::arg("argmax"), py::arg("dx"), py::kw_only(), py::arg("pool_size"),
      py::arg("stride"), py::arg("padding"),
      "Max pooling backward: dx (n, h, w, c) = 0, then dout scattered to the argmax positions "
      "(summed where windows overlap, one image per thread in order).");
  m.def(
      "avgpool2d_forward",
      [](py::handle x, py::handle out, py::handle pool_size, py::handle stride,
         py::handle padding) {
        const DType dt = float_dtype(x, "x");
        const py::array xa = arg(x, "x", dt, false, 4);
        const ConvGeom g = pool_geom(shape_of(xa), pool_size, stride, padding);
        const Shape ys = out_shape(g);
        py::array ya = arg(out, "out", dt, true, 4, &ys);
        no_overlap(ya, "out", xa, "x");
        if (dt == DType::f32)
          run_avg<float>(g, xa, ya, true);
        else
          run_avg<double>(g, xa, ya, true);
      },
      py::arg("x"), py::arg("out"), py::kw_only(), py::arg("pool_size"), py::arg("stride"),
      py::arg("padding"),
      "Average pooling over NHWC x: out = (sum of the window's in-image elements) / "
      "(pool_h * pool_w) (torch's count_include_pad=True).");
  m.def(
      "avgpool2d_backward",
      [](py::handle dout, py::handle dx, py::handle pool_size, py::handle stride,
         py::handle padding) {
        const DType dt = float_dtype(dx, "dx");
        py::array dxa = arg(dx, "dx", dt, true, 4);
        const ConvGeom g = pool_geom(shape_of(dxa), pool_size, stride, padding);
        const Shape ys = out_shape(g);
        const py::array da = arg(dout, "dout", dt, false, 4, &ys);
        no_overlap(dxa, "dx", da, "dout");
        if (dt == DType::f32)
          run_avg<float>(g, da, dxa, false);
        else
          run_avg<double>(g, da, dxa, false);
      },
      py::arg("dout"), py::arg("dx"), py::kw_only(), py::arg("pool_size"), py::arg("stride"),
      py::arg("padding"),
      "Average pooling backward: dx = 0, then dout / (pool_h * pool_w) added to each window's "
      "in-image elements.");
}

}  // namespace bind
}  // namespace cg
