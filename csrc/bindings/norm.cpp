// Normalization layer kernels (BatchNorm): validate every array, release the GIL, call.
#include <cmath>
#include <string>

#include "bindings/arrays.h"
#include "nn/batchnorm.h"

namespace cg {
namespace bind {
namespace {

void check_eps(double eps) {
  if (!(std::isfinite(eps) && eps > 0.0))
    throw std::invalid_argument("eps must be a finite number > 0, got " + std::to_string(eps));
}

// The (n, c) shape of a 2-D input, else ValueError.
std::vector<py::ssize_t> matrix_shape(const py::array& a, const char* name) {
  if (a.ndim() != 2)
    throw std::invalid_argument(std::string(name) + " must be 2-D (batch, features), got " +
                                std::to_string(a.ndim()) + "-D");
  return shape_of(a);
}

void forward(py::handle x_obj, py::handle weight_obj, py::handle bias_obj, py::handle y_obj,
             py::handle save_mean_obj, py::handle save_invstd_obj, py::handle running_mean_obj,
             py::handle running_var_obj, bool training, double momentum, double eps) {
  check_eps(eps);
  if (!(std::isfinite(momentum) && momentum >= 0.0 && momentum <= 1.0))
    throw std::invalid_argument("momentum must be in [0, 1], got " + std::to_string(momentum));
  const DType dt = float_dtype(x_obj, "x");
  py::array x = checked(x_obj, "x", dt, false);
  const auto shape = matrix_shape(x, "x");
  const std::vector<py::ssize_t> vec{shape[1]};
  py::array weight = checked(weight_obj, "weight", dt, false, &vec);
  py::array bias = checked(bias_obj, "bias", dt, false, &vec);
  py::array y = checked(y_obj, "y", dt, true, &shape);
  py::array sm = checked(save_mean_obj, "save_mean", DType::f64, true, &vec);
  py::array si = checked(save_invstd_obj, "save_invstd", DType::f64, true, &vec);
  const bool have_running = !running_mean_obj.is_none() || !running_var_obj.is_none();
  if (!training && !have_running)
    throw std::invalid_argument("running_mean and running_var are required when training=False");
  py::array rm, rv;
  if (have_running) {
    rm = checked(running_mean_obj, "running_mean", dt, training, &vec);
    rv = checked(running_var_obj, "running_var", dt, training, &vec);
  }
  const auto n = static_cast<std::size_t>(shape[0]);
  const auto c = static_cast<std::size_t>(shape[1]);
  if (c == 0) throw std::invalid_argument("x must have at least one feature");
  if (training && n < 2)
    throw std::invalid_argument("x needs at least 2 rows per feature in training mode, got " +
                                std::to_string(n));
  if (n == 0) return;
  py::gil_scoped_release release;
  if (dt == DType::f32) {
    if (training)
      batchnorm_forward_train<float>(n, c, cptr<float>(x), cptr<float>(weight), cptr<float>(bias),
                                     mptr<float>(y), mptr<double>(sm), mptr<double>(si),
                                     have_running ? mptr<float>(rm) : nullptr,
                                     have_running ? mptr<float>(rv) : nullptr, momentum, eps);
    else
      batchnorm_forward_eval<float>(n, c, cptr<float>(x), cptr<float>(weight), cptr<float>(bias),
                                    mptr<float>(y), mptr<double>(sm), mptr<double>(si),
                                    cptr<float>(rm), cptr<float>(rv), eps);
  } else {
    if (training)
      batchnorm_forward_train<double>(n, c, cptr<double>(x), cptr<double>(weight),
                                      cptr<double>(bias), mptr<double>(y), mptr<double>(sm),
                                      mptr<double>(si), have_running ? mptr<double>(rm) : nullptr,
                                      have_running ? mptr<double>(rv) : nullptr, momentum, eps);
    else
      batchnorm_forward_eval<double>(n, c, cptr<double>(x), cptr<double>(weight),
                                     cptr<double>(bias), mptr<double>(y), mptr<double>(sm),
                                     mptr<double>(si), cptr<double>(rm), cptr<double>(rv), eps);
  }
}

void backward(py::handle dy_obj, py::handle x_obj, py::handle weight_obj, py::handle save_mean_obj,
              py::handle save_invstd_obj, py::handle dx_obj, py::handle dweight_obj,
              py::handle dbias_obj, bool training) {
  const DType dt = float_dtype(x_obj, "x");
  py::array x = checked(x_obj, "x", dt, false);
  const auto shape = matrix_shape(x, "x");
  const std::vector<py::ssize_t> vec{shape[1]};
  py::array dy = checked(dy_obj, "dout", dt, false, &shape);
  py::array weight = checked(weight_obj, "weight", dt, false, &vec);
  py::array sm = checked(save_mean_obj, "save_mean", DType::f64, false, &vec);
  py::array si = checked(save_invstd_obj, "save_invstd", DType::f64, false, &vec);
  py::array dx;
  if (!dx_obj.is_none()) dx = checked(dx_obj, "dx", dt, true, &shape);
  py::array dw = checked(dweight_obj, "dweight", dt, true, &vec);
  py::array db = checked(dbias_obj, "dbias", dt, true, &vec);
  const auto n = static_cast<std::size_t>(shape[0]);
  const auto c = static_cast<std::size_t>(shape[1]);
  if (c == 0) throw std::invalid_argument("x must have at least one feature");
  if (n == 0) throw std::invalid_argument("x must have at least one row");
  const bool want_dx = !dx_obj.is_none();
  py::gil_scoped_release release;
  if (dt == DType::f32)
    batchnorm_backward<float>(n, c, cptr<float>(dy), cptr<float>(x), cptr<float>(weight),
                              cptr<double>(sm), cptr<double>(si),
                              want_dx ? mptr<float>(dx) : nullptr, mptr<float>(dw), mptr<float>(db),
                              training);
  else
    batchnorm_backward<double>(n, c, cptr<double>(dy), cptr<double>(x), cptr<double>(weight),
                               cptr<double>(sm), cptr<double>(si),
                               want_dx ? mptr<double>(dx) : nullptr, mptr<double>(dw),
                               mptr<double>(db), training);
}

}  // namespace

void register_norm(py::module_& m) {
  m.def("batchnorm_forward", &forward, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("y"), py::arg("save_mean"), py::arg("save_invstd"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "BatchNorm forward over the batch axis of x (n, c) into y. training=True normalizes with "
        "the biased batch variance and, when running_mean/running_var are given, updates them "
        "with the unbiased one; training=False uses the running statistics. save_mean and "
        "save_invstd (float64, (c,)) receive the statistics used, for the backward pass.");
  m.def("batchnorm_backward", &backward, py::arg("dout"), py::arg("x"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("dx"), py::arg("dweight"),
        py::arg("dbias"), py::arg("training"),
        "BatchNorm backward: writes dweight, dbias and (unless dx is None) dx.");
}

}  // namespace bind
}  // namespace cg
