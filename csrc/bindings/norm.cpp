// Normalization layer kernels (BatchNorm) are registered here.
#include "bindings/arrays.h"

namespace cg {
namespace bind {

void register_norm(py::module_& m) { (void)m; }

}  // namespace bind
}  // namespace cg
