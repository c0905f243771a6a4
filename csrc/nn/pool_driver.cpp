// Max and average pooling over NHWC images (see nn/conv.h): the window loops, calling the ISA's
// per-pixel kernels (nn/pool.h) on the channels. One image per work item: every output and every
// input-gradient element is computed by one thread in a fixed order, so the results are the same
// bits for any thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "nn/conv.h"
#include "nn/pool_kernels.h"

namespace cg {
namespace {

constexpr std::size_t kMinParallel = std::size_t(1) << 19;

// The in-image window of output (oy, ox): rows [y0, y1) and columns [x0, x1).
struct Window {
  std::size_t y0, y1, x0, x1;
};

Window window(const ConvGeom& g, std::size_t oy, std::size_t ox) {
  const std::ptrdiff_t ty =
      static_cast<std::ptrdiff_t>(oy * g.sh) - static_cast<std::ptrdiff_t>(g.pt);
  const std::ptrdiff_t tx =
      static_cast<std::ptrdiff_t>(ox * g.sw) - static_cast<std::ptrdiff_t>(g.pl);
  const std::ptrdiff_t h = static_cast<std::ptrdiff_t>(g.h), w = static_cast<std::ptrdiff_t>(g.w);
  const std::ptrdiff_t kh = static_cast<std::ptrdiff_t>(g.kh),
                       kw = static_cast<std::ptrdiff_t>(g.kw);
  Window r;
  r.y0 = static_cast<std::size_t>(std::max<std::ptrdiff_t>(ty, 0));
  r.y1 = static_cast<std::size_t>(std::min(ty + kh, h));
  r.x0 = static_cast<std::size_t>(std::max<std::ptrdiff_t>(tx, 0));
  r.x1 = static_cast<std::size_t>(std::min(tx + kw, w));
  return r;
}

template <class F>
void per_image(const ConvGeom& g, F&& body) {
  parallel_for(g.n, g.n * g.oh * g.ow * g.c * g.kh * g.kw, kMinParallel, body);
}

// The in-image taps of window wn of image xi, in row-major order: their pointers and (when pos
// is not null) their positions iy*w + ix as T. Returns the count.
template <class P, class T>
std::size_t taps_of(const ConvGeom& g, const Window& wn, P* xi, P** src, T* pos) {
  std::size_t t = 0;
  for (std::size_t iy = wn.y0; iy < wn.y1; ++iy)
    for (std::size_t ix = wn.x0; ix < wn.x1; ++ix, ++t) {
      src[t] = xi + (iy * g.w + ix) * g.c;
      if (pos) pos[t] = static_cast<T>(iy * g.w + ix);
    }
  return t;
}

// The scalar loop of maxpool2d_forward, for float images of 2^24 pixels or more (positions
// beyond float's exact integers).
template <class T>
void maxpool2d_forward_large(const ConvGeom& g, const T* x, T* y, std::int64_t* argmax) {
  const std::size_t c = g.c;
  per_image(g, [&](std::size_t im) {
    const T* xi = x + im * g.h * g.w * c;
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        const std::size_t o = ((im * g.oh + oy) * g.ow + ox) * c;
        T* yo = y + o;
        std::int64_t* ao = argmax + o;
        const Window wn = window(g, oy, ox);
        const std::int64_t first = static_cast<std::int64_t>(wn.y0 * g.w + wn.x0);
        for (std::size_t ch = 0; ch < c; ++ch) {
          yo[ch] = -std::numeric_limits<T>::infinity();
          ao[ch] = first;
        }
        for (std::size_t iy = wn.y0; iy < wn.y1; ++iy)
          for (std::size_t ix = wn.x0; ix < wn.x1; ++ix) {
            const T* s = xi + (iy * g.w + ix) * c;
            const std::int64_t pos = static_cast<std::int64_t>(iy * g.w + ix);
            for (std::size_t ch = 0; ch < c; ++ch) {
              const T v = s[ch];
              if (v > yo[ch] || std::isnan(v)) {
                yo[ch] = v;
                ao[ch] = pos;
              }
            }
          }
      }
  });
}

}  // namespace

template <class T>
void maxpool2d_forward(const ConvGeom& g, const T* x, T* y, std::int64_t* argmax) {
  if (g.h * g.w >= (std::size_t(1) << std::numeric_limits<T>::digits)) {
    maxpool2d_forward_large(g, x, y, argmax);
    return;
  }
  const PoolKernels<T>& kr = pool_kernels<T>();
  const std::size_t c = g.c;
  per_image(g, [&](std::size_t im) {
    std::vector<const T*> src(g.kh * g.kw);
    std::vector<T> pos(g.kh * g.kw), idx(c);
    const T* xi = x + im * g.h * g.w * c;
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        const std::size_t o = ((im * g.oh + oy) * g.ow + ox) * c;
        const std::size_t taps = taps_of(g, window(g, oy, ox), xi, src.data(), pos.data());
        kr.max_pixel(c, taps, src.data(), pos.data(), y + o, idx.data());
        for (std::size_t ch = 0; ch < c; ++ch) argmax[o + ch] = static_cast<std::int64_t>(idx[ch]);
      }
  });
}

template <class T>
void maxpool2d_backward(const ConvGeom& g, const T* dout, const std::int64_t* argmax, T* dx) {
  const std::size_t c = g.c, img = g.h * g.w * c, per = g.oh * g.ow * c;
  per_image(g, [&](std::size_t im) {
    T* d = dx + im * img;
    std::fill(d, d + img, T(0));
    const T* go = dout + im * per;
    const std::int64_t* ao = argmax + im * per;
    for (std::size_t o = 0; o < per; o += c)
      for (std::size_t ch = 0; ch < c; ++ch)
        d[static_cast<std::size_t>(ao[o + ch]) * c + ch] += go[o + ch];
  });
}

template <class T>
void avgpool2d_forward(const ConvGeom& g, const T* x, T* y) {
  const PoolKernels<T>& kr = pool_kernels<T>();
  const std::size_t c = g.c;
  const T div = static_cast<T>(g.kh * g.kw);
  per_image(g, [&](std::size_t im) {
    std::vector<const T*> src(g.kh * g.kw);
    const T* xi = x + im * g.h * g.w * c;
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        const std::size_t taps = taps_of<const T, T>(g, window(g, oy, ox), xi, src.data(), nullptr);
        kr.avg_pixel(c, taps, src.data(), div, y + ((im * g.oh + oy) * g.ow + ox) * c);
      }
  });
}

template <class T>
void avgpool2d_backward(const ConvGeom& g, const T* dout, T* dx) {
  const PoolKernels<T>& kr = pool_kernels<T>();
  const std::size_t c = g.c, img = g.h * g.w * c;
  const T div = static_cast<T>(g.kh * g.kw);
  per_image(g, [&](std::size_t im) {
    std::vector<T*> dst(g.kh * g.kw);
    T* d = dx + im * img;
    std::fill(d, d + img, T(0));
    for (std::size_t oy = 0; oy < g.oh; ++oy)
      for (std::size_t ox = 0; ox < g.ow; ++ox) {
        const std::size_t taps = taps_of<T, T>(g, window(g, oy, ox), d, dst.data(), nullptr);
        kr.avg_scatter(c, taps, dst.data(), dout + ((im * g.oh + oy) * g.ow + ox) * c, div);
      }
  });
}

#define CG_POOL_INSTANTIATE(T)                                                             \
  template void maxpool2d_forward<T>(const ConvGeom&, const T*, T*, std::int64_t*);        \
  template void maxpool2d_backward<T>(const ConvGeom&, const T*, const std::int64_t*, T*); \
  template void avgpool2d_forward<T>(const ConvGeom&, const T*, T*);                       \
  template void avgpool2d_backward<T>(const ConvGeom&, const T*, T*);
CG_POOL_INSTANTIATE(float)
CG_POOL_INSTANTIATE(double)
#undef CG_POOL_INSTANTIATE

}  // namespace cg
