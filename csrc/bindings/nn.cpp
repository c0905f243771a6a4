// Layer kernels (dense layers, activations, losses, norms) are registered here.
#include "bindings/arrays.h"

namespace cg {
namespace bind {

void register_nn(py::module_& m) { (void)m; }

}  // namespace bind
}  // namespace cg
