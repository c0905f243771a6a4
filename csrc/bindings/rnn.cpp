// Recurrent layers (SimpleRNN, LSTM, GRU) over batch-first sequences. A RnnWorkspace object,
// owned by the Python layer, holds what the forward pass keeps for backward and the scratch
// buffers (reused from call to call). Every argument is validated before anything is written;
// the GIL is released around the kernels.
#include <cstdint>
#include <memory>
#include <string>

#include "bindings/arrays.h"
#include "nn/rnn_driver.h"

namespace cg {
namespace bind {
namespace {

using Shape = std::vector<py::ssize_t>;

struct RnnWorkspace {
  RnnWork<float> f32;
  RnnWork<double> f64;
  bool has_forward = false;
  DType dtype = DType::f32;
  RnnDims dims;
};

RnnCell parse_cell(const std::string& s) {
  if (s == "tanh") return RnnCell::tanh;
  if (s == "relu") return RnnCell::relu;
  if (s == "lstm") return RnnCell::lstm;
  if (s == "gru") return RnnCell::gru;
  throw std::invalid_argument("cell must be 'tanh', 'relu', 'lstm' or 'gru', got '" + s + "'");
}

py::ssize_t ss(std::size_t v) { return static_cast<py::ssize_t>(v); }

// The parameters (4 per direction, read-only) checked against the dims; fills d.hidden.
std::vector<py::array> check_params(py::handle obj, const char* name, DType dt, RnnDims& d,
                                    bool writable) {
  const py::list items = as_list(obj, name);
  if (items.size() != 4 && items.size() != 8)
    throw std::invalid_argument(std::string(name) + " must have 4 or 8 arrays, got " +
                                std::to_string(items.size()));
  const std::size_t dirs = items.size() / 4, g = rnn_gate_count(d.cell);
  if (d.dirs && dirs != d.dirs)
    throw std::invalid_argument(std::string(name) + " has " + std::to_string(items.size()) +
                                " arrays; expected " + std::to_string(4 * d.dirs));
  d.dirs = dirs;
  std::vector<py::array> out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string nm = item_name(name, i);
    py::array a = checked(items[i], nm, dt, writable);
    if (i == 1 && !d.hidden) {
      if (a.ndim() != 2 || a.shape(0) < 1)
        throw std::invalid_argument(nm + " (weight_hh) must be 2-dimensional");
      d.hidden = dim(a, 0);
    }
    out.push_back(a);
  }
  const std::size_t gh = g * d.hidden;
  for (std::size_t i = 0; i < out.size(); ++i) {
    Shape want;
    switch (i % 4) {
      case 0:
        want = {ss(d.input), ss(gh)};
        break;
      case 1:
        want = {ss(d.hidden), ss(gh)};
        break;
      default:
        want = {ss(gh)};
    }
    if (shape_of(out[i]) != want)
      throw std::invalid_argument(item_name(name, i) + " has shape " +
                                  shape_text(shape_of(out[i])) + "; expected " + shape_text(want));
  }
  return out;
}

template <class T>
void params_of(const std::vector<py::array>& a, RnnParams<T>* p) {
  for (std::size_t i = 0; i < a.size() / 4; ++i)
    p[i] = {cptr<T>(a[4 * i]), cptr<T>(a[4 * i + 1]), cptr<T>(a[4 * i + 2]), cptr<T>(a[4 * i + 3])};
}

template <class T>
RnnWork<T>& work(RnnWorkspace& w);
template <>
RnnWork<float>& work<float>(RnnWorkspace& w) {
  return w.f32;
}
template <>
RnnWork<double>& work<double>(RnnWorkspace& w) {
  return w.f64;
}

template <class T>
void run_forward(RnnWorkspace& ws, const RnnDims& d, const py::array& x, const std::int64_t* len,
                 const std::vector<py::array>& pa, const py::array* h0, const py::array* c0,
                 py::array* y, py::array& hn, py::array* cn) {
  RnnParams<T> p[2];
  params_of<T>(pa, p);
  const T* px = cptr<T>(x);
  T* py_ = y ? mptr<T>(*y) : nullptr;
  T* ph = mptr<T>(hn);
  T* pc = cn ? mptr<T>(*cn) : nullptr;
  const T* ph0 = h0 ? cptr<T>(*h0) : nullptr;
  const T* pc0 = c0 ? cptr<T>(*c0) : nullptr;
  RnnWork<T>& w = work<T>(ws);
  {
    py::gil_scoped_release release;
    rnn_forward<T>(d, px, len, p, ph0, pc0, py_, ph, pc, w);
  }
}

template <class T>
void run_backward(RnnWorkspace& ws, const py::array& x, const std::vector<py::array>& pa,
                  const py::array& dy, py::array* dx, py::array* dh0, py::array* dc0,
                  std::vector<py::array>& ga) {
  RnnParams<T> p[2];
  params_of<T>(pa, p);
  RnnGrads<T> g[2];
  for (std::size_t i = 0; i < ga.size() / 4; ++i)
    g[i] = {mptr<T>(ga[4 * i]), mptr<T>(ga[4 * i + 1]), mptr<T>(ga[4 * i + 2]),
            mptr<T>(ga[4 * i + 3])};
  const T* px = cptr<T>(x);
  const T* pd = cptr<T>(dy);
  T* pdx = dx ? mptr<T>(*dx) : nullptr;
  T* pdh0 = dh0 ? mptr<T>(*dh0) : nullptr;
  T* pdc0 = dc0 ? mptr<T>(*dc0) : nullptr;
  RnnWork<T>& w = work<T>(ws);
  py::gil_scoped_release release;
  rnn_backward<T>(px, p, pd, pdx, pdh0, pdc0, g, w);
}

}  // namespace

void register_rnn(py::module_& m) {
  py::class_<RnnWorkspace>(m, "RnnWorkspace",
                           "What a recurrent layer's forward pass keeps for its backward pass, "
                           "and the scratch of both (reused by later calls).")
      .def(py::init<>())
      .def_property_readonly("has_forward", [](const RnnWorkspace& w) { return w.has_forward; });
  m.def(
      "rnn_forward",
      [](RnnWorkspace& ws, const std::string& cell, py::handle x, py::handle lengths,
         py::handle params, py::handle y, py::handle hn, py::handle cn, py::handle h0,
         py::handle c0) {
        const DType dt = float_dtype(x, "x");
        const py::array xa = arg(x, "x", dt, false, 3);
        RnnDims d;
        d.cell = parse_cell(cell);
        d.batch = dim(xa, 0);
        d.steps = dim(xa, 1);
        d.input = dim(xa, 2);
        d.dirs = 0;  // from the number of params
        if (!d.batch || !d.steps || !d.input)
          throw std::invalid_argument("x has shape " + shape_text(shape_of(xa)) +
                                      "; every dimension must be >= 1");
        const std::vector<py::array> pa = check_params(params, "params", dt, d, false);
        const std::int64_t* plen = nullptr;
        py::array la;
        if (!lengths.is_none()) {
          la = int64_vector(lengths, "lengths", d.batch);
          plen = cptr<std::int64_t>(la);
          for (std::size_t i = 0; i < d.batch; ++i)
            if (plen[i] < 1 || static_cast<std::size_t>(plen[i]) > d.steps)
              throw std::invalid_argument("lengths must be in [1, " + std::to_string(d.steps) +
                                          "], found " + std::to_string(plen[i]));
        }
        const std::size_t oh = d.dirs * d.hidden;
        const Shape hs{ss(d.batch), ss(oh)}, ys{ss(d.batch), ss(d.steps), ss(oh)};
        d.seq = !y.is_none();
        py::array ya, ha = arg(hn, "hn", dt, true, 2, &hs), ca;
        if (d.seq) ya = arg(y, "y", dt, true, 3, &ys);
        const bool lstm = d.cell == RnnCell::lstm;
        if (lstm != !cn.is_none())
          throw std::invalid_argument(lstm ? "cn is required for the LSTM cell"
                                           : "cn must be None for this cell");
        if (lstm) ca = arg(cn, "cn", dt, true, 2, &hs);
        py::array h0a, c0a;
        if (!h0.is_none()) h0a = arg(h0, "h0", dt, false, 2, &hs);
        if (!c0.is_none()) {
          if (!lstm) throw std::invalid_argument("c0 must be None for this cell");
          c0a = arg(c0, "c0", dt, false, 2, &hs);
        }
        std::vector<std::pair<py::array, const char*>> outs{{ha, "hn"}};
        if (d.seq) outs.emplace_back(ya, "y");
        if (lstm) outs.emplace_back(ca, "cn");
        for (std::size_t i = 0; i < outs.size(); ++i) {
          no_overlap(outs[i].first, outs[i].second, xa, "x");
          for (std::size_t j = 0; j < pa.size(); ++j)
            no_overlap(outs[i].first, outs[i].second, pa[j], "params");
          if (!h0.is_none()) no_overlap(outs[i].first, outs[i].second, h0a, "h0");
          if (!c0.is_none()) no_overlap(outs[i].first, outs[i].second, c0a, "c0");
          for (std::size_t j = i + 1; j < outs.size(); ++j)
            no_overlap(outs[i].first, outs[i].second, outs[j].first, outs[j].second);
        }
        ws.has_forward = false;
        if (dt == DType::f32)
          run_forward<float>(ws, d, xa, plen, pa, h0.is_none() ? nullptr : &h0a,
                             c0.is_none() ? nullptr : &c0a, d.seq ? &ya : nullptr, ha,
                             lstm ? &ca : nullptr);
        else
          run_forward<double>(ws, d, xa, plen, pa, h0.is_none() ? nullptr : &h0a,
                              c0.is_none() ? nullptr : &c0a, d.seq ? &ya : nullptr, ha,
                              lstm ? &ca : nullptr);
        ws.dims = d;
        ws.dtype = dt;
        ws.has_forward = true;
      },
      py::arg("workspace"), py::arg("cell"), py::arg("x"), py::arg("lengths"), py::arg("params"),
      py::arg("y"), py::arg("hn"), py::arg("cn"), py::arg("h0") = py::none(),
      py::arg("c0") = py::none(),
      "Forward pass of a recurrent layer over x (batch, steps, input): params = [w_ih (input, "
      "G*H), w_hh (H, G*H), b_ih, b_hh] per direction (4 or 8 arrays, torch gate order); y "
      "(batch, steps, dirs*H) the outputs of every step or None; hn (and cn for 'lstm', else "
      "None) (batch, dirs*H) the final states; h0, c0 the initial states (None: zeros). lengths: "
      "None or int64 (batch,) in [1, steps]; "
      "padded steps output 0 and carry the state. Kept in `workspace` for rnn_backward.");
  m.def(
      "rnn_backward",
      [](RnnWorkspace& ws, py::handle x, py::handle params, py::handle dout, py::handle dx,
         py::handle grads, py::handle dh0, py::handle dc0) {
        if (!ws.has_forward) throw std::invalid_argument("rnn_backward called before rnn_forward");
        const DType dt = ws.dtype;
        RnnDims d = ws.dims;
        const Shape xs{ss(d.batch), ss(d.steps), ss(d.input)};
        const py::array xa = arg(x, "x", dt, false, 3, &xs);
        RnnDims dp = d;
        dp.hidden = 0;
        const std::vector<py::array> pa = check_params(params, "params", dt, dp, false);
        if (dp.hidden != d.hidden)
          throw std::invalid_argument("params do not match the forward pass's hidden size");
        std::vector<py::array> ga = check_params(grads, "grads", dt, dp, true);
        const std::size_t oh = d.dirs * d.hidden;
        const Shape ds =
            d.seq ? Shape{ss(d.batch), ss(d.steps), ss(oh)} : Shape{ss(d.batch), ss(oh)};
        const py::array da = arg(dout, "dout", dt, false, ds.size(), &ds);
        py::array dxa;
        if (!dx.is_none()) dxa = arg(dx, "dx", dt, true, 3, &xs);
        const Shape hs{ss(d.batch), ss(oh)};
        py::array dh0a, dc0a;
        if (!dh0.is_none()) dh0a = arg(dh0, "dh0", dt, true, 2, &hs);
        if (!dc0.is_none()) {
          if (d.cell != RnnCell::lstm || dh0.is_none())
            throw std::invalid_argument("dc0 needs dh0 and the LSTM cell");
          dc0a = arg(dc0, "dc0", dt, true, 2, &hs);
        }
        std::vector<std::pair<py::array, const char*>> outs;
        if (!dx.is_none()) outs.emplace_back(dxa, "dx");
        if (!dh0.is_none()) outs.emplace_back(dh0a, "dh0");
        if (!dc0.is_none()) outs.emplace_back(dc0a, "dc0");
        for (std::size_t i = 0; i < outs.size(); ++i) {
          no_overlap(outs[i].first, outs[i].second, xa, "x");
          no_overlap(outs[i].first, outs[i].second, da, "dout");
          for (std::size_t j = 0; j < pa.size(); ++j)
            no_overlap(outs[i].first, outs[i].second, pa[j], "params");
          for (std::size_t j = 0; j < ga.size(); ++j)
            no_overlap(outs[i].first, outs[i].second, ga[j], "grads");
          for (std::size_t j = i + 1; j < outs.size(); ++j)
            no_overlap(outs[i].first, outs[i].second, outs[j].first, outs[j].second);
        }
        for (std::size_t i = 0; i < ga.size(); ++i) {
          const std::string gi = item_name("grads", i);
          no_overlap(ga[i], gi.c_str(), xa, "x");
          no_overlap(ga[i], gi.c_str(), da, "dout");
          for (std::size_t j = 0; j < pa.size(); ++j)
            no_overlap(ga[i], gi.c_str(), pa[j], "params");
          for (std::size_t j = i + 1; j < ga.size(); ++j)
            no_overlap(ga[i], gi.c_str(), ga[j], "grads");
          if (!dx.is_none()) no_overlap(ga[i], gi.c_str(), dxa, "dx");
        }
        if (dt == DType::f32)
          run_backward<float>(ws, xa, pa, da, dx.is_none() ? nullptr : &dxa,
                              dh0.is_none() ? nullptr : &dh0a, dc0.is_none() ? nullptr : &dc0a, ga);
        else
          run_backward<double>(ws, xa, pa, da, dx.is_none() ? nullptr : &dxa,
                               dh0.is_none() ? nullptr : &dh0a, dc0.is_none() ? nullptr : &dc0a,
                               ga);
      },
      py::arg("workspace"), py::arg("x"), py::arg("params"), py::arg("dout"), py::arg("dx"),
      py::arg("grads"), py::arg("dh0") = py::none(), py::arg("dc0") = py::none(),
      "Backward pass of the last rnn_forward on `workspace` (same x and params): dout is the "
      "gradient of y (batch, steps, dirs*H) or, without y, of hn (batch, dirs*H); writes grads "
      "(aligned with params), dx and the initial states' gradients dh0, dc0 (each None to skip "
      "it).");
}

}  // namespace bind
}  // namespace cg
