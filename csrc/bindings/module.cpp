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
  m.def(
      "parallel_testing",
      [](int delay_us, std::uint64_t shuffle_seed, bool delay_caller, bool adaptive) {
        if (delay_us < 0 || delay_us > 1000000)
          throw std::invalid_argument("delay_us must be in [0, 1000000], got " +
                                      std::to_string(delay_us));
        set_parallel_testing(delay_us, delay_caller, shuffle_seed, adaptive);
      },
      py::arg("delay_us") = 0, py::arg("shuffle_seed") = 0, py::arg("delay_caller") = false,
      py::arg("adaptive") = true,
      "Testing only: sleep delay_us before each part a worker (or, with delay_caller, the "
      "calling thread) runs, and claim parts in an order shuffled by shuffle_seed (0: in "
      "order); with adaptive=False, use the pool even while the OS preempts our threads (a busy "
      "machine). Results must not change. parallel_testing() restores the defaults.");
  m.def(
      "parallel_stats",
      [] {
        const ParallelStats s = parallel_stats();
        py::dict d;
        d["calls"] = s.calls;
        d["inline_calls"] = s.inline_calls;
        d["contended_calls"] = s.contended_calls;
        d["parts_caller"] = s.parts_caller;
        d["parts_workers"] = s.parts_workers;
        d["waits"] = s.waits;
        d["workers"] = s.workers;
        return d;
      },
      "Counters of the thread pool since the process (or fork) started: calls run on the pool, "
      "calls run inline because another thread's call held it, calls run inline during a "
      "calm period after a caller waited long for a descheduled worker's part, parts run by "
      "the calling "
      "threads and by the workers, calls that slept waiting for a worker's part, workers alive.");

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
