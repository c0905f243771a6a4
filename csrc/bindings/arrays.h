// Validation of NumPy arguments. Everything is checked before any kernel writes anything.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "nn/kernels.h"

namespace cg {
namespace bind {

namespace py = pybind11;

enum class DType { f32, f64 };

// "name[i]" for messages.
std::string item_name(const char* name, std::size_t i);

// The float dtype of `obj` (a float32 or float64 ndarray), else TypeError naming `name`.
DType float_dtype(py::handle obj, const std::string& name);

// Checks that obj is an ndarray of `dtype`, C-contiguous, writeable when `writable`, and of
// `shape` when given. Raises TypeError (type, dtype) or ValueError (layout, shape, read-only).
py::array checked(py::handle obj, const std::string& name, DType dtype, bool writable,
                  const std::vector<py::ssize_t>* shape = nullptr);

std::vector<py::ssize_t> shape_of(const py::array& a);

// A Python sequence as a list, with a TypeError naming `name` if it is not one; when `expected`
// is not npos, a ValueError if its length differs ("grads has 2 items; params has 3").
py::list as_list(py::handle obj, const char* name, std::size_t expected = std::size_t(-1),
                 const char* expected_of = "params");

// "(2, 3)" / "(4,)".
std::string shape_text(const std::vector<py::ssize_t>& s);

// An array argument of dtype `dt`, C-contiguous (and writeable when `writable`) with `ndim`
// dimensions; when `shape` is given, exactly that shape.
py::array arg(py::handle obj, const char* name, DType dt, bool writable, std::size_t ndim,
              const std::vector<py::ssize_t>* shape = nullptr);

// ValueError if the memory of a written array overlaps that of another argument.
void no_overlap(const py::array& w, const char* wname, const py::array& o, const char* oname);

// An int64 array of shape (n,) (any length when n is npos), C-contiguous and aligned, writeable
// when `writable`; TypeError/ValueError naming `name`.
py::array int64_vector(py::handle obj, const char* name, std::size_t n = std::size_t(-1),
                       bool writable = false);

// ValueError "<what> must be in [0, hi), found v" unless every value of the int64 vector a is.
void all_in_range(const py::array& a, const std::string& what, std::size_t hi);

// The n Python ints of a sequence (not bools), each >= min; TypeError/ValueError naming
// "name[i]".
std::vector<long long> int_items(py::handle obj, const char* name, std::size_t n, long long min);

// The activation named by a str or None (linear); TypeError/ValueError otherwise.
Act parse_act(py::handle h);

// ValueError naming `name` unless x is finite (and >= 0 when nonneg).
void finite(double x, const char* name, bool nonneg);

inline std::size_t dim(const py::array& a, int i) { return static_cast<std::size_t>(a.shape(i)); }

template <class T>
const T* cptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <class T>
T* mptr(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

}  // namespace bind
}  // namespace cg
