// Depthwise convolution with one filter per channel (see nn/conv.h): direct loops over each
// output pixel's taps, the channels in vectors (nn/conv_table.cpp's dw_forward / dw_backward),
// instead of a GEMM with one column per group. Forward: one output row per work item. Backward:
// one chunk of images on the calling thread, pixels in order (conv2d_backward runs the chunks).
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "nn/conv.h"
#include "nn/conv_kernels.h"

namespace cg {
namespace {

// The in-image taps of output (oy, ox) of image img: their input pixels (at x + offset) and
// their indices ky*kw + kx. Returns the count.
std::size_t pixel_taps(const ConvGeom& g, std::size_t img, std::size_t oy, std::size_t ox,
                       std::size_t* offset, std::size_t* tap) {
  const std::ptrdiff_t y0 =
      static_cast<std::ptrdiff_t>(oy * g.sh) - static_cast<std::ptrdiff_t>(g.pt);
  const std::ptrdiff_t x0 =
      static_cast<std::ptrdiff_t>(ox * g.sw) - static_cast<std::ptrdiff_t>(g.pl);
  std::size_t t = 0;
  for (std::size_t ky = 0; ky < g.kh; ++ky) {
    const std::ptrdiff_t iy = y0 + static_cast<std::ptrdiff_t>(ky * g.dh);
    if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(g.h)) continue;
    for (std::size_t kx = 0; kx < g.kw; ++kx) {
      const std::ptrdiff_t ix = x0 + static_cast<std::ptrdiff_t>(kx * g.dw);
      if (ix < 0 || ix >= static_cast<std::ptrdiff_t>(g.w)) continue;
      offset[t] =
          ((img * g.h + static_cast<std::size_t>(iy)) * g.w + static_cast<std::size_t>(ix)) * g.c;
      tap[t++] = ky * g.kw + kx;
    }
  }
  return t;
}

}  // namespace

template <class T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y, Act act,
                       T slope) {
  const ConvKernels<T>& ck = conv_kernels<T>();
  const std::size_t c = g.c, kk = g.kh * g.kw;
  parallel_for(g.n * g.oh, g.rows() * kk * c, kGemmMinParallelWork, [&](std::size_t item) {
    const std::size_t img = item / g.oh, oy = item % g.oh;
    std::vector<std::size_t> off(kk), tap(kk);
    std::vector<const T*> xs(kk), ws(kk);
    for (std::size_t ox = 0; ox < g.ow; ++ox) {
      const std::size_t taps = pixel_taps(g, img, oy, ox, off.data(), tap.data());
      for (std::size_t t = 0; t < taps; ++t) {
        xs[t] = x + off[t];
        ws[t] = w + tap[t] * c;
      }
      ck.dw_forward(c, taps, xs.data(), ws.data(), b, y + ((img * g.oh + oy) * g.ow + ox) * c, act,
                    slope);
    }
  });
}

template <class T>
void depthwise_backward(const ConvGeom& g, const T* x, const T* w, const T* dyp, std::size_t n0,
                        std::size_t count, T* dw, T* dx, bool accumulate) {
  const ConvKernels<T>& ck = conv_kernels<T>();
  const std::size_t c = g.c, kk = g.kh * g.kw, img_elems = g.h * g.w * c;
  if (!accumulate) std::fill(dw, dw + kk * c, T(0));
  if (dx) std::fill(dx + n0 * img_elems, dx + (n0 + count) * img_elems, T(0));
  std::vector<std::size_t> off(kk), tap(kk);
  std::vector<const T*> xs(kk), ws(kk);
  std::vector<T*> dws(kk), dxs(kk);
  for (std::size_t img = n0; img < n0 + count; ++img)
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox, dyp += c) {
        const std::size_t taps = pixel_taps(g, img, oy, ox, off.data(), tap.data());
        for (std::size_t t = 0; t < taps; ++t) {
          xs[t] = x + off[t];
          ws[t] = w + tap[t] * c;
          dws[t] = dw + tap[t] * c;
          if (dx) dxs[t] = dx + off[t];
        }
        ck.dw_backward(c, taps, xs.data(), ws.data(), dyp, dws.data(), dx ? dxs.data() : nullptr);
      }
}

#define CG_DEPTHWISE_INSTANTIATE(T)                                                               \
  template void depthwise_forward<T>(const ConvGeom&, const T*, const T*, const T*, T*, Act, T);  \
  template void depthwise_backward<T>(const ConvGeom&, const T*, const T*, const T*, std::size_t, \
                                      std::size_t, T*, T*, bool);
CG_DEPTHWISE_INSTANTIATE(float)
CG_DEPTHWISE_INSTANTIATE(double)
#undef CG_DEPTHWISE_INSTANTIATE

}  // namespace cg
