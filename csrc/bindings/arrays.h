// Validation of NumPy arguments. Everything is checked before any kernel writes anything.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

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

}  // namespace bind
}  // namespace cg
