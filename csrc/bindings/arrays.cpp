#include "bindings/arrays.h"

#include <cmath>
#include <cstdint>

namespace cg {
namespace bind {

std::string item_name(const char* name, std::size_t i) {
  return std::string(name) + "[" + std::to_string(i) + "]";
}

static std::string type_name(py::handle obj) {
  return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

DType float_dtype(py::handle obj, const std::string& name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + " must be a numpy.ndarray, got " + type_name(obj));
  const auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().is(py::dtype::of<float>())) return DType::f32;
  if (a.dtype().is(py::dtype::of<double>())) return DType::f64;
  const char kind = a.dtype().kind();
  const int size = static_cast<int>(a.dtype().itemsize());
  if (kind == 'f' && size == 4) return DType::f32;
  if (kind == 'f' && size == 8) return DType::f64;
  throw py::type_error(name + " has dtype " + py::str(a.dtype()).cast<std::string>() +
                       "; expected float32 or float64");
}

static const char* dtype_str(DType d) { return d == DType::f32 ? "float32" : "float64"; }

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

std::string shape_text(const std::vector<py::ssize_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

py::array checked(py::handle obj, const std::string& name, DType dtype, bool writable,
                  const std::vector<py::ssize_t>* shape) {
  const DType d = float_dtype(obj, name);
  if (d != dtype)
    throw py::type_error(name + " has dtype " + dtype_str(d) + "; expected " + dtype_str(dtype) +
                         " like the other arrays (no implicit conversion)");
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(name + " must be C-contiguous");
  if (writable && !a.writeable()) throw std::invalid_argument(name + " is read-only");
  if (!(a.flags() & 0x0100))  // NPY_ARRAY_ALIGNED
    throw std::invalid_argument(name + " is not aligned");
  if (shape && shape_of(a) != *shape)
    throw std::invalid_argument(name + " has shape " + shape_text(shape_of(a)) + "; expected " +
                                shape_text(*shape));
  return a;
}

py::array arg(py::handle obj, const char* name, DType dt, bool writable, std::size_t ndim,
              const std::vector<py::ssize_t>* shape) {
  py::array a = checked(obj, name, dt, writable);
  if (static_cast<std::size_t>(a.ndim()) != ndim)
    throw std::invalid_argument(std::string(name) + " must be " + std::to_string(ndim) +
                                "-dimensional, got shape " + shape_text(shape_of(a)));
  if (shape && shape_of(a) != *shape)
    throw std::invalid_argument(std::string(name) + " has shape " + shape_text(shape_of(a)) +
                                "; expected " + shape_text(*shape));
  return a;
}

void no_overlap(const py::array& w, const char* wname, const py::array& o, const char* oname) {
  const auto w0 = reinterpret_cast<std::uintptr_t>(w.data());
  const auto o0 = reinterpret_cast<std::uintptr_t>(o.data());
  const auto w1 = w0 + static_cast<std::uintptr_t>(w.nbytes());
  const auto o1 = o0 + static_cast<std::uintptr_t>(o.nbytes());
  if (w.nbytes() > 0 && o.nbytes() > 0 && w0 < o1 && o0 < w1)
    throw std::invalid_argument(std::string(wname) + " must not share memory with " + oname);
}

py::list as_list(py::handle obj, const char* name, std::size_t expected, const char* expected_of) {
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj) ||
      py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a list of arrays, got " + type_name(obj));
  py::list out(py::reinterpret_borrow<py::object>(obj));
  if (expected != std::size_t(-1) && out.size() != expected)
    throw std::invalid_argument(std::string(name) + " has " + std::to_string(out.size()) +
                                " items; " + expected_of + " has " + std::to_string(expected));
  return out;
}

py::array int64_vector(py::handle obj, const char* name, std::size_t n, bool writable) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy.ndarray of int64");
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<std::int64_t>()))
    throw py::type_error(std::string(name) + " has dtype " +
                         py::str(a.dtype()).cast<std::string>() + "; expected int64");
  if (a.ndim() != 1 || !(a.flags() & py::array::c_style) || !(a.flags() & 0x0100))
    throw std::invalid_argument(std::string(name) + " must be 1-D, C-contiguous and aligned");
  if (n != std::size_t(-1) && dim(a, 0) != n) {
    const std::vector<py::ssize_t> want{static_cast<py::ssize_t>(n)};
    throw std::invalid_argument(std::string(name) + " has shape " + shape_text(shape_of(a)) +
                                "; expected " + shape_text(want));
  }
  if (writable && !a.writeable()) throw std::invalid_argument(std::string(name) + " is read-only");
  return a;
}

void all_in_range(const py::array& a, const std::string& what, std::size_t hi) {
  const std::int64_t* p = cptr<std::int64_t>(a);
  for (std::size_t i = 0; i < dim(a, 0); ++i)
    if (p[i] < 0 || static_cast<std::size_t>(p[i]) >= hi)
      throw std::invalid_argument(what + " must be in [0, " + std::to_string(hi) + "), found " +
                                  std::to_string(p[i]));
}

std::vector<long long> int_items(py::handle obj, const char* name, std::size_t n, long long min) {
  const py::list items = as_list(obj, name, n);
  std::vector<long long> out;
  for (std::size_t i = 0; i < n; ++i) {
    if (!py::isinstance<py::int_>(items[i]) || py::isinstance<py::bool_>(items[i]))
      throw py::type_error(item_name(name, i) + " must be an int");
    long long v = 0;
    try {
      v = items[i].cast<long long>();
    } catch (const py::cast_error&) {  // beyond 64 bits
      throw std::invalid_argument(item_name(name, i) + " is out of range");
    }
    out.push_back(v);
    if (out.back() < min)
      throw std::invalid_argument(item_name(name, i) + " must be >= " + std::to_string(min));
  }
  return out;
}

Act parse_act(py::handle h) {
  if (h.is_none()) return Act::linear;
  if (!py::isinstance<py::str>(h))
    throw py::type_error("activation must be a str or None, got " +
                         py::str(py::type::handle_of(h).attr("__name__")).cast<std::string>());
  const std::string s = h.cast<std::string>();
  if (s == "linear") return Act::linear;
  if (s == "relu") return Act::relu;
  if (s == "leaky_relu") return Act::leaky_relu;
  if (s == "sigmoid") return Act::sigmoid;
  if (s == "tanh") return Act::tanh;
  throw std::invalid_argument(
      "activation must be None, 'linear', 'relu', 'leaky_relu', 'sigmoid' or 'tanh'; got '" + s +
      "'");
}

void finite(double x, const char* name, bool nonneg) {
  if (!std::isfinite(x) || (nonneg && x < 0.0))
    throw std::invalid_argument(
        std::string(name) + (nonneg ? " must be finite and >= 0, got " : " must be finite, got ") +
        std::to_string(x));
}

}  // namespace bind
}  // namespace cg
