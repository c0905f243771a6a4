// The fused training loop (nn/train_loop.h): every array and setting is validated once per
// call, before any step runs; then the steps run without the GIL.
#include "nn/train_loop.h"

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/train_loop_optim.h"

namespace cg {
namespace bind {
namespace {

using Shape = std::vector<py::ssize_t>;

struct Named {
  py::array a;
  std::string name;
};

// The arrays of one call: the ones the loop writes may overlap nothing else.
struct Arrays {
  std::vector<Named> read, written;
  // Registers a and returns it (a new reference to the same array).
  py::array add(py::array a, std::string name, bool writes) {
    (writes ? written : read).push_back({a, std::move(name)});
    return a;
  }
  void check_overlaps() const {
    for (std::size_t i = 0; i < written.size(); ++i) {
      for (const Named& r : read)
        no_overlap(written[i].a, written[i].name.c_str(), r.a, r.name.c_str());
      for (std::size_t j = 0; j < i; ++j)
        no_overlap(written[i].a, written[i].name.c_str(), written[j].a, written[j].name.c_str());
    }
  }
};

template <class T>
py::tuple run(TrainLoop<T>& t, std::size_t first, std::size_t count) {
  std::vector<LoopStep> steps(count);
  {
    py::gil_scoped_release release;
    count = train_steps(t, first, count, steps.data());
  }
  if (PyErr_Occurred()) throw py::error_already_set();  // raised by the comm hook
  py::array_t<double> loss(static_cast<py::ssize_t>(count));
  py::array_t<std::int64_t> correct(static_cast<py::ssize_t>(count));
  py::array_t<bool> applied(static_cast<py::ssize_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    loss.mutable_at(i) = steps[i].loss;
    correct.mutable_at(i) = steps[i].correct;
    applied.mutable_at(i) = steps[i].applied;
  }
  py::list penalties;
  for (const LoopDense<T>& d : t.layers) penalties.append(d.weight_penalty);
  return py::make_tuple(loss, correct, applied, penalties);
}

// The call's scalar settings, validated: the loss, guard, clips and optimizer of every step.
struct Settings {
  double smoothing = 0.0, clip_norm = 0.0, clip_value = 0.0;
  bool guard = true, after_backward = false;
  Optimizer opt;
  std::array<bool, 3> needs{};        // the optimizer's state buffers s0..s2
  const double* lrs = nullptr;        // one per step, or nullptr
  const double* epss = nullptr;       // Adam's eps, one per step, or nullptr
  const double* momentums = nullptr;  // one per step, or nullptr
  py::handle scalars;                 // the optimizer's per-tensor scalars, or None
  py::handle comm;                    // (rank, size, buf, launch, hook), or None
};

// The comm hook of the loop (nn/train_loop.h): calls hook(event) with the GIL. An exception it
// raises stops the run and is raised by the binding when the run returns.
std::function<bool(std::int64_t)> comm_hook(py::handle hook) {
  return [h = hook.ptr()](std::int64_t event) {
    py::gil_scoped_acquire gil;
    try {
      return py::reinterpret_borrow<py::object>(h)(event).cast<bool>();
    } catch (py::error_already_set& e) {
      e.restore();
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
    return false;
  };
}

// Data-parallel steps: comm = (rank, size, buf, launch, hook); see LoopComm in nn/train_loop.h.
// Every shard of every batch must hold a row. Points the optimizer's gradients into buf.
template <class T>
void set_comm(TrainLoop<T>& t, py::handle comm, std::vector<OptimTensor<T>>& ps, bool after,
              Arrays& arrays, DType dt) {
  if (after) throw std::invalid_argument("comm needs penalty_after_backward=False");
  if (!py::isinstance<py::tuple>(comm) || py::len(comm) != 5)
    throw py::type_error("comm must be a tuple (rank, size, buf, launch, hook)");
  const py::tuple c = comm.cast<py::tuple>();
  if (!py::isinstance<py::int_>(c[0]) || !py::isinstance<py::int_>(c[1]))
    throw py::type_error("comm: rank and size must be ints");
  const long long rank = c[0].cast<long long>(), size = c[1].cast<long long>();
  if (size < 1 || rank < 0 || rank >= size)
    throw std::invalid_argument("comm: rank must be in [0, size) and size >= 1");
  const std::size_t p = static_cast<std::size_t>(size), last = t.n % t.batch;
  if (t.batch < p || (last && last < p))
    throw std::invalid_argument("comm: every batch must have at least one row per rank");
  std::size_t total = 0;
  for (const OptimTensor<T>& q : ps) total += q.n;
  const Shape bs{static_cast<py::ssize_t>(total + 2)};
  py::array buf = arrays.add(checked(c[2], "comm buf", dt, true, &bs), "comm buf", true);
  const py::array launch =
      arrays.add(int64_vector(c[3], "comm launch", t.layers.size(), false), "comm launch", false);
  const std::int64_t* ls = cptr<std::int64_t>(launch);
  for (std::size_t l = 0; l < t.layers.size(); ++l)
    if (ls[l] < -1) throw std::invalid_argument("comm launch: entries must be >= -1");
  if (!PyCallable_Check(c[4].ptr())) throw py::type_error("comm hook must be callable");
  t.comm.rank = static_cast<std::size_t>(rank);
  t.comm.size = p;
  t.comm.buf = mptr<T>(buf);
  t.comm.launch = ls;
  t.comm.hook = comm_hook(c[4]);
  std::size_t off = 0;
  for (OptimTensor<T>& q : ps) {
    q.g = t.comm.buf + off;
    off += q.n;
  }
}

template <class T>
py::tuple build_and_run(const py::array& x, const py::array& y, const py::array* order,
                        std::size_t batch, py::handle xbuf, py::handle ybuf,
                        const py::array& dlogits, const py::list& layers, const py::list& states,
                        py::handle steps, const Settings& set, std::size_t first, std::size_t count,
                        Arrays& arrays, DType dt) {
  TrainLoop<T> t;
  t.x = cptr<T>(x);
  t.n = dim(x, 0);
  t.features = dim(x, 1);
  t.batch = batch;
  t.y = cptr<std::int64_t>(y);
  t.dlogits = mptr<T>(const_cast<py::array&>(dlogits));
  t.smoothing = set.smoothing;
  t.guard = set.guard;
  t.clip_norm = set.clip_norm;
  t.clip_value = set.clip_value;
  t.penalty_after_backward = set.after_backward;
  t.opt = set.opt;
  t.lrs = set.lrs;
  t.epss = set.epss;
  t.momentums = set.momentums;
  const py::ssize_t b = static_cast<py::ssize_t>(batch);
  if (order) {
    t.order = cptr<std::int64_t>(*order);
    const Shape xs{2 * b, static_cast<py::ssize_t>(t.features)};
    py::array xb = arrays.add(arg(xbuf, "xbuf", dt, true, 2, &xs), "xbuf", true);
    py::array yb = arrays.add(int64_vector(ybuf, "ybuf", 2 * batch, true), "ybuf", true);
    t.xbuf = mptr<T>(xb);
    t.ybuf = mptr<std::int64_t>(yb);
  }
  std::size_t width = t.features;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const py::tuple spec = layers[l].cast<py::tuple>();
    if (spec.size() != 13)
      throw std::invalid_argument(item_name("layers", l) + " must be a 13-tuple");
    const std::string n = item_name("layers", l);
    LoopDense<T> d;
    py::array w =
        arrays.add(arg(spec[0], (n + ".weight").c_str(), dt, true, 2), n + ".weight", true);
    if (dim(w, 0) != width)
      throw std::invalid_argument(n + ".weight has " + std::to_string(dim(w, 0)) +
                                  " rows; expected " + std::to_string(width));
    d.in = width;
    d.out = dim(w, 1);
    d.w = cptr<T>(w);
    const Shape bs{static_cast<py::ssize_t>(d.out)}, ws = shape_of(w);
    const Shape ys{b, static_cast<py::ssize_t>(d.out)}, xs{b, static_cast<py::ssize_t>(d.in)};
    const bool has_b = !spec[1].is_none();
    if (has_b)
      d.b = cptr<T>(
          arrays.add(arg(spec[1], (n + ".bias").c_str(), dt, true, 1, &bs), n + ".bias", true));
    d.act = parse_act(spec[2]);
    d.slope = spec[3].cast<double>();
    d.activity_l1 = spec[4].cast<double>();
    d.activity_l2 = spec[5].cast<double>();
    d.weight_l1 = spec[6].cast<double>();
    d.weight_l2 = spec[7].cast<double>();
    finite(d.slope, "negative_slope", d.act == Act::leaky_relu);
    for (double v : {d.activity_l1, d.activity_l2, d.weight_l1, d.weight_l2})
      finite(v, "penalty", true);
    const auto buffer = [&](py::handle o, const char* what, const Shape* s) {
      py::array a =
          arrays.add(arg(o, (n + what).c_str(), dt, true, 2 - (s->size() == 1), s), n + what, true);
      return mptr<T>(a);
    };
    d.y = buffer(spec[8], ".y", &ys);
    d.dyp = buffer(spec[9], ".dyp", &ys);
    if (l > 0) d.dx = buffer(spec[10], ".dx", &xs);
    d.dw = buffer(spec[11], ".dweight", &ws);
    if (has_b != !spec[12].is_none())
      throw std::invalid_argument(n + ": dbias must be given exactly when bias is");
    if (has_b) d.db = buffer(spec[12], ".dbias", &bs);
    t.layers.push_back(d);
    width = d.out;
  }
  if (t.layers.empty()) throw std::invalid_argument("layers must not be empty");
  const Shape ds{b, static_cast<py::ssize_t>(width)};
  if (shape_of(dlogits) != ds)
    throw std::invalid_argument("dlogits has shape " + shape_text(shape_of(dlogits)) +
                                "; expected " + shape_text(ds));
  all_in_range(y, "y", width);
  // The optimizer's tensors: the layers' weights and biases in order, with their gradients.
  std::vector<OptimTensor<T>> ps;
  for (const LoopDense<T>& d : t.layers) {
    ps.push_back({d.in * d.out, 0, const_cast<T*>(d.w), d.dw});
    if (d.b) ps.push_back({d.out, 0, const_cast<T*>(d.b), d.db});
  }
  if (states.size() != 3) throw std::invalid_argument("states must have 3 items (s0, s1, s2)");
  const char* names[3] = {"states[0]", "states[1]", "states[2]"};
  for (int k = 0; k < 3; ++k) {
    if (set.needs[k] == states[k].is_none())
      throw std::invalid_argument(std::string(names[k]) +
                                  (set.needs[k] ? " is needed by the optimizer" : " must be None"));
    if (!set.needs[k]) continue;
    const py::list l = as_list(states[k], names[k], ps.size());
    for (std::size_t i = 0; i < ps.size(); ++i) {
      py::array a = checked(l[i], item_name(names[k], i), dt, true);
      if (static_cast<std::size_t>(a.size()) != ps[i].n)
        throw std::invalid_argument(item_name(names[k], i) + " has the wrong size");
      arrays.add(a, item_name(names[k], i), true);
      (k == 0 ? ps[i].s0 : k == 1 ? ps[i].s1 : ps[i].s2) = mptr<T>(a);
    }
  }
  const std::vector<long long> counts = int_items(steps, "steps", ps.size(), 0);
  for (std::size_t i = 0; i < ps.size(); ++i) ps[i].step = counts[i];
  // The optimizer's per-tensor scalars: float64 (rows, tensors), advanced in place.
  const std::size_t rows = set.opt.scalar_rows();
  if (rows == 0 && !set.scalars.is_none())
    throw std::invalid_argument("scalars must be None for this optimizer");
  if (rows) {
    if (set.scalars.is_none())
      throw std::invalid_argument("scalars are needed by the optimizer (" + std::to_string(rows) +
                                  " rows of one float64 per parameter)");
    const Shape ss{static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(ps.size())};
    py::array sa =
        arrays.add(checked(set.scalars, "scalars", DType::f64, true, &ss), "scalars", true);
    check_scalars(set.opt, cptr<double>(sa), ps.size());
    t.scalars = mptr<double>(sa);
  }
  if (!set.comm.is_none()) set_comm(t, set.comm, ps, set.after_backward, arrays, dt);
  t.params = std::move(ps);
  arrays.check_overlaps();
  return run(t, first, count);
}

}  // namespace

void register_train_loop(py::module_& m) {
  m.def(
      "train_steps",
      [](py::handle x, py::handle y, py::handle order, std::size_t batch, py::handle xbuf,
         py::handle ybuf, py::handle dlogits, py::handle layers, double smoothing, bool guard,
         bool penalty_after_backward, const std::string& optimizer, py::handle hyper,
         py::handle states, py::handle steps, std::size_t first, std::size_t count, py::handle lrs,
         double clip_norm, double clip_value, py::handle epss, py::handle momentums,
         py::handle scalars, py::handle comm) {
        Settings set;
        set.scalars = scalars;
        set.comm = comm;
        set.opt = parse_optimizer(optimizer, hyper, &set.needs);
        if (!(smoothing >= 0.0 && smoothing <= 1.0))
          throw std::invalid_argument("label_smoothing must be in [0, 1]");
        if (batch == 0) throw std::invalid_argument("batch must be >= 1");
        finite(clip_norm, "clip_norm", true);  // 0: none
        finite(clip_value, "clip_value", true);
        set.smoothing = smoothing;
        set.guard = guard;
        set.after_backward = penalty_after_backward;
        set.clip_norm = clip_norm;
        set.clip_value = clip_value;
        // A schedule's learning rates, one per step, each held to the optimizer's lr check.
        py::array lr_values;
        if (!lrs.is_none()) {
          const Shape ls{static_cast<py::ssize_t>(count)};
          lr_values = checked(lrs, "lrs", DType::f64, false, &ls);
          set.lrs = static_cast<const double*>(lr_values.data());
          for (std::size_t i = 0; i < count; ++i)
            finite(set.lrs[i], item_name("lrs", i).c_str(), true);
        }
        // Adam's epsilon of each step, each held to Adam's eps check.
        py::array eps_values;
        if (!epss.is_none()) {
          if (set.opt.kind != Optimizer::Kind::adam)
            throw std::invalid_argument("epss needs optimizer 'adam'");
          const Shape es{static_cast<py::ssize_t>(count)};
          eps_values = checked(epss, "epss", DType::f64, false, &es);
          set.epss = static_cast<const double*>(eps_values.data());
          for (std::size_t i = 0; i < count; ++i)
            finite(set.epss[i], item_name("epss", i).c_str(), true);
        }
        // A schedule's momentums (or Adam's beta1s), one per step, each held to the optimizer's
        // check.
        py::array momentum_values;
        if (!momentums.is_none()) {
          const Shape ms{static_cast<py::ssize_t>(count)};
          momentum_values = checked(momentums, "momentums", DType::f64, false, &ms);
          set.momentums = static_cast<const double*>(momentum_values.data());
          check_momentums(set.opt, set.needs, set.momentums, count);
        }
        Arrays arrays;
        if (set.lrs) arrays.add(lr_values, "lrs", false);
        if (set.epss) arrays.add(eps_values, "epss", false);
        if (set.momentums) arrays.add(momentum_values, "momentums", false);
        const DType dt = float_dtype(x, "x");
        const py::array xa = arrays.add(arg(x, "x", dt, false, 2), "x", false);
        const std::size_t n = dim(xa, 0);
        const py::array ya = arrays.add(int64_vector(y, "y", n, false), "y", false);
        py::array oa;
        if (!order.is_none()) {
          oa = arrays.add(int64_vector(order, "order", n, false), "order", false);
          all_in_range(oa, "order", n);
        }
        if (first + count > (n + batch - 1) / batch)
          throw std::invalid_argument("batches [first, first + count) exceed the epoch");
        const py::array da = arrays.add(arg(dlogits, "dlogits", dt, true, 2), "dlogits", true);
        const py::array* po = order.is_none() ? nullptr : &oa;
        const py::list ls = as_list(layers, "layers");
        const py::list st = as_list(states, "states");
        if (dt == DType::f32)
          return build_and_run<float>(xa, ya, po, batch, xbuf, ybuf, da, ls, st, steps, set, first,
                                      count, arrays, dt);
        return build_and_run<double>(xa, ya, po, batch, xbuf, ybuf, da, ls, st, steps, set, first,
                                     count, arrays, dt);
      },
      py::arg("x"), py::arg("y"), py::arg("order"), py::arg("batch"), py::arg("xbuf"),
      py::arg("ybuf"), py::arg("dlogits"), py::arg("layers"), py::arg("label_smoothing"),
      py::arg("guard"), py::arg("penalty_after_backward"), py::arg("optimizer"), py::arg("hyper"),
      py::arg("states"), py::arg("steps"), py::arg("first"), py::arg("count"),
      py::arg("lrs") = py::none(), py::arg("clip_norm") = 0.0, py::arg("clip_value") = 0.0,
      py::arg("epss") = py::none(), py::arg("momentums") = py::none(),
      py::arg("scalars") = py::none(), py::arg("comm") = py::none(),
      "Training steps first .. first+count-1 of an epoch of Dense layers, softmax cross-entropy "
      "and a first-order optimizer, in one call (see convergent/_fused.py). layers: per layer "
      "(weight, bias, activation, negative_slope, activity_l1, activity_l2, weight_l1, "
      "weight_l2, y, dyp, dx, dweight, dbias), buffers of `batch` rows; xbuf/ybuf: 2*batch "
      "rows (two batches); optimizer: 'sgd', 'adam', 'adagrad', 'rmsprop', 'nadam', 'radam', "
      "'adamax', 'adadelta', 'asgd', 'rprop', 'lion' or 'schedulefree' with hyper in the order "
      "of the _core.<optimizer>_step arguments (the Python class's _kernel_args); states: the "
      "optimizer's three state buffer lists (None where unused) in "
      "parameter order; steps: each parameter's step count so far; lrs: None, or a float64 array "
      "of the learning rate of each of the count steps (a schedule's values); clip_norm, "
      "clip_value: convergent.fit's gradient clips (0: none); epss: None, or a float64 array of "
      "Adam's epsilon of each of the count steps (optimizer 'adam' only); momentums: None, or a "
      "float64 array of the momentum (SGD, RMSprop) or beta1 (the kinds with betas) of each of "
      "the count steps; scalars: None, or the optimizer's per-parameter scalars, a writeable "
      "float64 array (rows, parameters) advanced in place: nadam mu_product; asgd eta, mu; "
      "schedulefree lr_max, weight_sum; comm: None, or (rank, size, buf, launch, hook) for "
      "data-parallel steps (convergent.distributed): this rank's rows of each batch, the "
      "gradients times the rank's share packed into buf (its dtype, the gradients then the "
      "loss and correct count), hook(k) called to start summing group k after layer l when "
      "launch[l] = k >= 0, hook(-1) between other layers and hook(-2) to wait for the sums; a "
      "hook returning False (or raising) stops the run before that step is applied. "
      "Returns (loss per step, correct rows per step, applied per step, the layers' last weight "
      "penalties), one item per step run.");
}

}  // namespace bind
}  // namespace cg
