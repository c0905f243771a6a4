// Training-loop kernels: softmax cross-entropy with its gradient and accuracy count, and the
// non-finite scan of the gradient guard and the gradient clips. Validate, release the GIL, call.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "nn/driver.h"

namespace cg {
namespace bind {
namespace {

// labels: int64 (n,), C-contiguous, every value in [0, k) or equal to `ignore`. ValueError
// names the first bad one.
py::array checked_labels(py::handle obj, std::size_t n, std::size_t k, std::int64_t ignore) {
  py::array a = int64_vector(obj, "labels", n);
  const std::int64_t* p = cptr<std::int64_t>(a);
  for (std::size_t i = 0; i < n; ++i)
    if ((p[i] < 0 || static_cast<std::size_t>(p[i]) >= k) && p[i] != ignore)
      throw std::invalid_argument(
          "target labels must be in [0, " + std::to_string(k) + ")" +
          (ignore == kNoIgnoreLabel ? "" : " or equal ignore_index " + std::to_string(ignore)) +
          ", found " + std::to_string(p[i]));
  return a;
}

// A C-contiguous, aligned array of plain numbers (bool, integer, float, complex), else
// TypeError/ValueError naming `name`.
py::array plain_array(py::handle obj, const char* name, bool writable) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy.ndarray");
  auto a = py::reinterpret_borrow<py::array>(obj);
  const char kind = a.dtype().kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f' && kind != 'c')
    throw py::type_error(std::string(name) + " has dtype " +
                         py::str(a.dtype()).cast<std::string>() + "; expected a numeric dtype");
  if (!(a.flags() & py::array::c_style) || !(a.flags() & 0x0100))
    throw std::invalid_argument(std::string(name) + " must be C-contiguous and aligned");
  if (writable && !a.writeable()) throw std::invalid_argument(std::string(name) + " is read-only");
  if (a.ndim() < 1) throw std::invalid_argument(std::string(name) + " must have a first axis");
  return a;
}

template <class T>
XentPart run_xent(const py::array& x, const py::array& t, py::array& d, double smoothing,
                  std::int64_t ignore, std::size_t* counted) {
  const std::size_t n = dim(x, 0), k = dim(x, 1);
  const T* px = cptr<T>(x);
  const std::int64_t* pt = cptr<std::int64_t>(t);
  T* pd = mptr<T>(d);
  py::gil_scoped_release release;
  return softmax_xent<T>(n, k, px, pt, pd, static_cast<T>(smoothing), ignore, counted);
}

template <class T>
py::tuple run_sums(const py::array& a) {
  const std::size_t n = static_cast<std::size_t>(a.size());
  const T* p = cptr<T>(a);
  double sums[2];
  {
    py::gil_scoped_release release;
    abs_sq_sums<T>(n, p, sums);
  }
  return py::make_tuple(sums[0], sums[1]);
}

template <class T>
void run_scale_clip(py::array& a, double scale, double bound) {
  const std::size_t n = static_cast<std::size_t>(a.size());
  T* p = mptr<T>(a);
  py::gil_scoped_release release;
  scale_clip<T>(n, p, static_cast<T>(scale), static_cast<T>(bound));
}

template <class T>
bool run_finite(const py::array& a) {
  const std::size_t n = static_cast<std::size_t>(a.size());
  const T* p = cptr<T>(a);
  py::gil_scoped_release release;
  return all_finite<T>(n, p);
}

}  // namespace

void register_train(py::module_& m) {
  m.def(
      "take_rows",
      [](py::handle src_obj, py::handle index_obj, py::handle out_obj) {
        const py::array src = plain_array(src_obj, "src", false);
        py::array out = plain_array(out_obj, "out", true);
        if (!out.dtype().is(src.dtype()))
          throw py::type_error("out has dtype " + py::str(out.dtype()).cast<std::string>() +
                               "; expected " + py::str(src.dtype()).cast<std::string>() +
                               " like src (no conversion)");
        const py::array index = int64_vector(index_obj, "index");
        std::vector<py::ssize_t> shape = shape_of(src);
        shape[0] = index.shape(0);
        if (shape_of(out) != shape)
          throw std::invalid_argument("out has shape " + shape_text(shape_of(out)) + "; expected " +
                                      shape_text(shape));
        no_overlap(out, "out", src, "src");
        no_overlap(out, "out", index, "index");
        const std::size_t rows = dim(index, 0), n = dim(src, 0);
        all_in_range(index, "index", n);
        const std::int64_t* idx = cptr<std::int64_t>(index);
        const std::size_t row_bytes =
            n ? static_cast<std::size_t>(src.nbytes()) / n
              : static_cast<std::size_t>(out.nbytes()) / std::max<std::size_t>(rows, 1);
        const char* ps = static_cast<const char*>(src.data());
        char* po = static_cast<char*>(out.mutable_data());
        py::gil_scoped_release release;
        gather_rows(rows, row_bytes, ps, idx, po);
      },
      py::arg("src"), py::arg("index"), py::arg("out"),
      "out[r] = src[index[r]] for every r: the rows of a mini-batch gathered (numeric dtypes, "
      "C-contiguous; index int64 in [0, len(src))).");
  m.def(
      "softmax_xent",
      [](py::handle logits, py::handle labels, py::handle dlogits, double label_smoothing,
         py::object ignore_index) {
        if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
          throw std::invalid_argument("label_smoothing must be in [0, 1], got " +
                                      std::to_string(label_smoothing));
        std::int64_t ignore = kNoIgnoreLabel;
        if (!ignore_index.is_none()) {
          if (!py::isinstance<py::int_>(ignore_index) || py::isinstance<py::bool_>(ignore_index))
            throw py::type_error("ignore_index must be an int or None");
          long long v = 0;
          try {
            v = ignore_index.cast<long long>();
          } catch (const py::cast_error&) {
            throw std::invalid_argument("ignore_index is out of the int64 range");
          }
          if (v == kNoIgnoreLabel)
            throw std::invalid_argument("ignore_index must be > " + std::to_string(v));
          ignore = v;
        }
        const DType dt = float_dtype(logits, "logits");
        const py::array x = arg(logits, "logits", dt, false, 2);
        const std::size_t n = dim(x, 0), k = dim(x, 1);
        if (n == 0 || k == 0)
          throw std::invalid_argument("logits must have at least one row and one column, got " +
                                      shape_text(shape_of(x)));
        const py::array t = checked_labels(labels, n, k, ignore);
        const std::vector<py::ssize_t> s = shape_of(x);
        py::array d = arg(dlogits, "dlogits", dt, true, 2, &s);
        no_overlap(d, "dlogits", x, "logits");
        no_overlap(d, "dlogits", t, "labels");
        std::size_t counted = n;
        const XentPart p = dt == DType::f32
                               ? run_xent<float>(x, t, d, label_smoothing, ignore, &counted)
                               : run_xent<double>(x, t, d, label_smoothing, ignore, &counted);
        const double value = counted ? xent_loss(p, label_smoothing, counted) : 0.0;
        return py::make_tuple(value, p.correct);
      },
      py::arg("logits"), py::arg("labels"), py::arg("dlogits"), py::arg("label_smoothing") = 0.0,
      py::arg("ignore_index") = py::none(),
      "Softmax cross-entropy of logits (n, k) against int64 labels (n,) in [0, k) (or equal to "
      "ignore_index: such rows count for nothing and get dlogits 0), mean over the c counted "
      "rows: writes dlogits = (softmax(logits) - q) / c, q = (1 - s) onehot + s / k, and returns "
      "(loss, number of counted rows whose argmax is the label); loss 0 when c is 0.");
  m.def(
      "abs_sq_sums",
      [](py::handle x) {
        const DType dt = float_dtype(x, "x");
        const py::array a = checked(x, "x", dt, false);
        return dt == DType::f32 ? run_sums<float>(a) : run_sums<double>(a);
      },
      py::arg("x"),
      "(sum |x|, sum x**2) over a float32/float64 C-contiguous array, accumulated in float64 (the "
      "L1 and L2 penalty values).");
  m.def(
      "scale_clip",
      [](py::handle g, double scale, double bound) {
        const DType dt = float_dtype(g, "g");
        py::array a = checked(g, "g", dt, true);
        finite(scale, "scale", true);
        if (!(bound > 0.0)) throw std::invalid_argument("bound must be > 0 (inf: no clip)");
        if (dt == DType::f32)
          run_scale_clip<float>(a, scale, bound);
        else
          run_scale_clip<double>(a, scale, bound);
      },
      py::arg("g"), py::arg("scale"), py::arg("bound"),
      "In place: g = clip(g * scale, -bound, bound) in g's dtype (scale and bound rounded to it; "
      "NaN stays NaN), on the kernels' threads: the gradient clips (scale 1 and bound inf change "
      "nothing).");
  m.def(
      "all_finite",
      [](py::handle arrays) {
        const py::list items = as_list(arrays, "arrays");
        std::vector<py::array> checked_items;
        std::vector<DType> dts;
        for (std::size_t i = 0; i < items.size(); ++i) {
          const std::string name = item_name("arrays", i);
          const DType dt = float_dtype(items[i], name);
          checked_items.push_back(checked(items[i], name, dt, false));
          dts.push_back(dt);
        }
        for (std::size_t i = 0; i < checked_items.size(); ++i) {
          const bool ok = dts[i] == DType::f32 ? run_finite<float>(checked_items[i])
                                               : run_finite<double>(checked_items[i]);
          if (!ok) return false;
        }
        return true;
      },
      py::arg("arrays"),
      "True when no array in the list holds a NaN or an infinity (float32/float64, "
      "C-contiguous).");
}

}  // namespace bind
}  // namespace cg
