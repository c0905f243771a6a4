// The window geometry shared by the convolution and pooling bindings.
#pragma once
#include <string>
#include <utility>

#include "bindings/arrays.h"
#include "nn/conv.h"

namespace cg {
namespace bind {

// Sets g's stride and dilation from (y, x) pairs, its top/left padding from a (top, bottom,
// left, right) sequence, and the output size, from g's input size and kernel (kh, kw); what
// names the window in messages ("kernel", "pool"). TypeError/ValueError naming the argument.
inline void set_window(ConvGeom& g, py::handle stride, py::handle padding, py::handle dilation,
                       const char* what) {
  const auto s = int_items(stride, "stride", 2, 1);
  const auto p = int_items(padding, "padding", 4, 0);
  const auto d = int_items(dilation, "dilation", 2, 1);
  // Bounded so that no size computed from them can overflow.
  constexpr long long kMax = 1LL << 31;
  for (const auto& [vals, name] : {std::pair{&s, "stride"}, {&p, "padding"}, {&d, "dilation"}})
    for (const long long v : *vals)
      if (v > kMax)
        throw std::invalid_argument(std::string(name) + " values must be at most 2^31, got " +
                                    std::to_string(v));
  g.sh = static_cast<std::size_t>(s[0]);
  g.sw = static_cast<std::size_t>(s[1]);
  g.dh = static_cast<std::size_t>(d[0]);
  g.dw = static_cast<std::size_t>(d[1]);
  g.pt = static_cast<std::size_t>(p[0]);
  g.pl = static_cast<std::size_t>(p[2]);
  const std::size_t ph = g.h + g.pt + static_cast<std::size_t>(p[1]);
  const std::size_t pw = g.w + g.pl + static_cast<std::size_t>(p[3]);
  const std::size_t eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1;
  if (eh > ph || ew > pw)
    throw std::invalid_argument(std::string("the ") + what + " (" + std::to_string(eh) + " x " +
                                std::to_string(ew) + " with dilation) is larger than the padded " +
                                "input (" + std::to_string(ph) + " x " + std::to_string(pw) + ")");
  g.oh = (ph - eh) / g.sh + 1;
  g.ow = (pw - ew) / g.sw + 1;
}

}  // namespace bind
}  // namespace cg
