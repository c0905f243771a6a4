// The extension module convergent._core: configuration, then one register_* per kernel family.
#include <pybind11/stl.h>

#include "bindings/arrays.h"
#include "common/isa.h"
#include "common/parallel.h"

namespace cg {
namespace bind {
void register_optim(py::module_& m);
void register_optim_adam_family(py::module_& m);
void register_optim_lionsf(py::module_& m);
void register_optim_classic(py::module_& m);
void register_nn(py::module_& m);
void register_norm(py::module_& m);
void register_train(py::module_& m);
void register_train_loop(py::module_& m);
void register_factormuon(py::module_& m);
void register_conv(py::module_& m);
void register_embedding(py::module_& m);
void register_rnn(py::module_& m);
}  // namespace bind
}  // namespace cg

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  using namespace cg;
  m.doc() = "convergent's compiled kernels (private; use the convergent package)";
  init_isa_from_env();

  m.def(
      "available_isas",
      [] {
        std::vector<std::string> out;
        for (Isa isa : cg::available_isas()) out.emplace_back(isa_name(isa));
        return out;
      },
      "ISAs this machine and build can run, best first.");
  m.def(
      "get_isa", [] { return std::string(isa_name(current_isa())); },
      "The ISA whose kernels run now.");
  m.def(
      "set_isa",
      [](const std::string& name) {
        Isa isa;
        if (!parse_isa(name, &isa))
          throw std::invalid_argument("isa must be one of 'avx512', 'avx2', 'scalar'; got '" +
                                      name + "'");
        set_isa(isa);
      },
      py::arg("isa"), "Force the kernels of one ISA (ValueError if this machine cannot run it).");
  m.def("get_num_threads", &get_num_threads, "Threads the kernels may use.");
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) throw std::invalid_argument("n must be >= 1, got " + std::to_string(n));
        set_num_threads(n);
      },
      py::arg("n"), "Set the threads the kernels may use (n >= 1).");
  m.def("have_openmp", &have_openmp, "Whether the extension was built with OpenMP.");

  bind::register_optim(m);
  bind::register_optim_adam_family(m);
  bind::register_optim_lionsf(m);
  bind::register_optim_classic(m);
  bind::register_nn(m);
  bind::register_norm(m);
  bind::register_train(m);
  bind::register_train_loop(m);
  bind::register_factormuon(m);
  bind::register_conv(m);
  bind::register_embedding(m);
  bind::register_rnn(m);
}
