// Embedding kernels: the row gather of the forward pass and the deterministic scatter-add of the
// weight gradient. Every argument is validated before anything is written; the GIL is released
// around the kernels.
#include "nn/embedding.h"

#include <cstdint>
#include <string>

#include "bindings/arrays.h"

namespace cg {
namespace bind {
namespace {

using Shape = std::vector<py::ssize_t>;

// indices: int64 (n,), C-contiguous, every value in [0, rows): ValueError naming the first bad one.
py::array checked_indices(py::handle obj, std::size_t rows) {
  py::array a = int64_vector(obj, "indices");
  const std::int64_t* p = cptr<std::int64_t>(a);
  for (std::size_t i = 0; i < dim(a, 0); ++i)
    if (p[i] < 0 || static_cast<std::size_t>(p[i]) >= rows)
      throw std::invalid_argument("indices must be in [0, " + std::to_string(rows) +
                                  ") (num_embeddings), found " + std::to_string(p[i]) +
                                  " at position " + std::to_string(i));
  return a;
}

template <class T>
void run_forward(const py::array& w, const py::array& idx, py::array& out) {
  const std::size_t n = dim(idx, 0), d = dim(w, 1);
  const T* pw = cptr<T>(w);
  const std::int64_t* pi = cptr<std::int64_t>(idx);
  T* po = mptr<T>(out);
  py::gil_scoped_release release;
  embedding_forward<T>(n, d, pw, pi, po);
}

template <class T>
void run_backward(const py::array& idx, const py::array& dout, py::array& dw, std::int64_t pad) {
  const std::size_t n = dim(idx, 0), rows = dim(dw, 0), d = dim(dw, 1);
  const std::int64_t* pi = cptr<std::int64_t>(idx);
  const T* pg = cptr<T>(dout);
  T* pdw = mptr<T>(dw);
  py::gil_scoped_release release;
  embedding_backward<T>(n, rows, d, pi, pg, pdw, pad);
}

}  // namespace

void register_embedding(py::module_& m) {
  m.def(
      "embedding_forward",
      [](py::handle weight, py::handle indices, py::handle out) {
        const DType dt = float_dtype(weight, "weight");
        const py::array w = arg(weight, "weight", dt, false, 2);
        const py::array idx = checked_indices(indices, dim(w, 0));
        const Shape s{idx.shape(0), w.shape(1)};
        py::array o = arg(out, "out", dt, true, 2, &s);
        no_overlap(o, "out", w, "weight");
        no_overlap(o, "out", idx, "indices");
        if (dt == DType::f32)
          run_forward<float>(w, idx, o);
        else
          run_forward<double>(w, idx, o);
      },
      py::arg("weight"), py::arg("indices"), py::arg("out"),
      "out[p] = weight[indices[p]] for every position p: weight (rows, dim) float32/float64, "
      "indices int64 (n,) in [0, rows), out (n, dim) of weight's dtype.");
  m.def(
      "embedding_backward",
      [](py::handle indices, py::handle dout, py::handle dweight, py::object padding_idx) {
        const DType dt = float_dtype(dweight, "dweight");
        py::array dw = arg(dweight, "dweight", dt, true, 2);
        const std::size_t rows = dim(dw, 0);
        std::int64_t pad = -1;
        if (!padding_idx.is_none()) {
          if (!py::isinstance<py::int_>(padding_idx) || py::isinstance<py::bool_>(padding_idx))
            throw py::type_error("padding_idx must be an int or None");
          const long long v = padding_idx.cast<long long>();
          if (v < 0 || static_cast<std::size_t>(v) >= rows)
            throw std::invalid_argument("padding_idx must be in [0, " + std::to_string(rows) +
                                        "), got " + std::to_string(v));
          pad = v;
        }
        const py::array idx = checked_indices(indices, rows);
        const Shape s{idx.shape(0), dw.shape(1)};
        const py::array g = arg(dout, "dout", dt, false, 2, &s);
        no_overlap(dw, "dweight", g, "dout");
        no_overlap(dw, "dweight", idx, "indices");
        if (dt == DType::f32)
          run_backward<float>(idx, g, dw, pad);
        else
          run_backward<double>(idx, g, dw, pad);
      },
      py::arg("indices"), py::arg("dout"), py::arg("dweight"), py::arg("padding_idx") = py::none(),
      "dweight[i] = sum of dout[p] over the positions p with indices[p] == i, in increasing p "
      "(written, not accumulated; 0 for unused rows and for row padding_idx): the same bits for "
      "any thread count and ISA.");
}

}  // namespace bind
}  // namespace cg
