// 2-D convolution over NHWC images on the GEMM's packing and microkernel (see nn/conv.h).
//
// Forward: an implicit GEMM. The weights of every group and K block are packed once as the
// GEMM's B micro-panels; the rows of the output are cut into blocks of mc rows (fixed by the
// ISA's blocking, not by the thread count), and for each block and K block the thread that owns
// it packs the patch rows straight from x into A micro-panels and runs the microkernel, whose
// store adds the bias and applies the activation on the last K block.
// Backward: the activation derivative and the bias gradient in one pass over dout (as Dense),
// then per chunk of whole images (a fixed size): the chunk's patch matrix (im2col) and
// dw += patches^T @ dyp (chunks in order), and dcols = dyp @ w^T scattered back into dx by
// col2im, one image per work item.
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "nn/conv.h"

namespace cg {
namespace {

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }
std::size_t round_up(std::size_t a, std::size_t b) { return ceil_div(a, b) * b; }

// The K block size of the implicit GEMM: near-equal blocks of at most kc (depends on K and the
// ISA only).
std::size_t balanced_kc(std::size_t k, std::size_t kc) {
  if (k <= kc) return k;
  const std::size_t blocks = ceil_div(k, kc);
  return ceil_div(k, blocks);
}

// im2col and col2im move fewer elements than this on one thread (a parallel region costs more
// than it saves on small copies).
constexpr std::size_t kMinParallelCopy = std::size_t(1) << 20;

// Elements of the im2col scratch of one backward chunk (whole images, at least one).
constexpr std::size_t kColsBudget = std::size_t(1) << 20;

// Per-thread scratch, grown on demand and reused by later calls (only packed copies of the
// inputs, fully rewritten before use).
template <class T>
T* scratch(int slot, std::size_t elems) {
  thread_local std::vector<T> buf[2];
  if (buf[slot].size() < elems) buf[slot].resize(elems);
  return buf[slot].data();
}

// Writes elements [k0, k0 + kc) of row i of group gi's patch matrix to d[0], d[ks], d[2*ks]...
template <class T>
void patch_row(const ConvGeom& g, std::size_t gi, const T* x, std::size_t i, std::size_t k0,
               std::size_t kc, T* d, std::size_t ks) {
  const std::size_t cg = g.cg();
  const std::size_t ox = i % g.ow, t = i / g.ow, oy = t % g.oh, img = t / g.oh;
  const std::ptrdiff_t y0 =
      static_cast<std::ptrdiff_t>(oy * g.sh) - static_cast<std::ptrdiff_t>(g.pt);
  const std::ptrdiff_t x0 =
      static_cast<std::ptrdiff_t>(ox * g.sw) - static_cast<std::ptrdiff_t>(g.pl);
  const T* xi = x + img * g.h * g.w * g.c + gi * cg;
  const std::size_t kend = k0 + kc;
  std::size_t tap = k0 / cg, ci = k0 % cg, ky = tap / g.kw, kx = tap % g.kw;
  T* dk = d;
  for (std::size_t k = k0; k < kend;) {
    const std::size_t len = std::min(cg - ci, kend - k);
    const std::ptrdiff_t iy = y0 + static_cast<std::ptrdiff_t>(ky * g.dh);
    const std::ptrdiff_t ix = x0 + static_cast<std::ptrdiff_t>(kx * g.dw);
    if (iy >= 0 && ix >= 0 && iy < static_cast<std::ptrdiff_t>(g.h) &&
        ix < static_cast<std::ptrdiff_t>(g.w)) {
      const T* s =
          xi + (static_cast<std::size_t>(iy) * g.w + static_cast<std::size_t>(ix)) * g.c + ci;
      for (std::size_t j = 0; j < len; ++j) dk[j * ks] = s[j];
    } else {
      for (std::size_t j = 0; j < len; ++j) dk[j * ks] = T(0);
    }
    k += len;
    dk += len * ks;
    ci = 0;
    if (++kx == g.kw) kx = 0, ++ky;
  }
}

// Packs rows [i0, i0 + mc) x columns [k0, k0 + kc) of the patch matrix into micro-panels of mr
// rows, k-major (dst[p*mr*kc + k*mr + r]); rows past mc are zero (pack_a's layout).
template <class T>
void pack_patches(const ConvGeom& g, std::size_t gi, const T* x, std::size_t i0, std::size_t mc,
                  std::size_t k0, std::size_t kc, std::size_t mr, T* dst) {
  for (std::size_t p = 0; p < mc; p += mr, dst += mr * kc) {
    const std::size_t rows = std::min(mr, mc - p);
    for (std::size_t r = 0; r < rows; ++r) patch_row(g, gi, x, i0 + p + r, k0, kc, dst + r, mr);
    for (std::size_t r = rows; r < mr; ++r)
      for (std::size_t k = 0; k < kc; ++k) dst[k * mr + r] = T(0);
  }
}

// cols (rows x K, row-major) = rows [i0, i0 + rows) of group gi's patch matrix.
template <class T>
void im2col(const ConvGeom& g, std::size_t gi, const T* x, std::size_t i0, std::size_t rows,
            T* cols) {
  const std::size_t k = g.depth(), block = 256;
  parallel_for(ceil_div(rows, block), rows * k, kMinParallelCopy, [&](std::size_t b) {
    const std::size_t r1 = std::min(rows, (b + 1) * block);
    for (std::size_t r = b * block; r < r1; ++r) patch_row(g, gi, x, i0 + r, 0, k, cols + r * k, 1);
  });
}

// dx of the images [n0, n0 + count) = the sum of the patch gradients dcols (group gi's block of
// rows x K at dcols + gi*rows*K), one image per work item; each element gets its terms in the
// order (group, output row, tap).
template <class T>
void col2im(const ConvGeom& g, std::size_t n0, std::size_t count, const T* dcols, T* dx) {
  const std::size_t cg = g.cg(), k = g.depth(), per = g.oh * g.ow, rows = count * per;
  const std::size_t img_elems = g.h * g.w * g.c;
  parallel_for(count, rows * k * g.groups, kMinParallelCopy, [&](std::size_t im) {
    T* d = dx + (n0 + im) * img_elems;
    std::fill(d, d + img_elems, T(0));
    for (std::size_t gi = 0; gi < g.groups; ++gi) {
      const T* src = dcols + gi * rows * k + im * per * k;
      for (std::size_t oy = 0; oy < g.oh; ++oy)
        for (std::size_t ox = 0; ox < g.ow; ++ox, src += k) {
          const std::ptrdiff_t y0 =
              static_cast<std::ptrdiff_t>(oy * g.sh) - static_cast<std::ptrdiff_t>(g.pt);
          const std::ptrdiff_t x0 =
              static_cast<std::ptrdiff_t>(ox * g.sw) - static_cast<std::ptrdiff_t>(g.pl);
          for (std::size_t ky = 0; ky < g.kh; ++ky) {
            const std::ptrdiff_t iy = y0 + static_cast<std::ptrdiff_t>(ky * g.dh);
            if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(g.h)) continue;
            for (std::size_t kx = 0; kx < g.kw; ++kx) {
              const std::ptrdiff_t ix = x0 + static_cast<std::ptrdiff_t>(kx * g.dw);
              if (ix < 0 || ix >= static_cast<std::ptrdiff_t>(g.w)) continue;
              T* o = d + (static_cast<std::size_t>(iy) * g.w + static_cast<std::size_t>(ix)) * g.c +
                     gi * cg;
              const T* s = src + (ky * g.kw + kx) * cg;
              for (std::size_t c = 0; c < cg; ++c) o[c] += s[c];
            }
          }
        }
    }
  });
}

}  // namespace

template <class T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y, Act act, T slope) {
  const std::size_t m = g.rows(), k = g.depth(), og = g.og(), co = g.cout;
  if (m == 0 || co == 0) return;
  if (g.is_pointwise()) {
    GemmArgs<T> a = gemm_args(m, co, g.c, x, g.c, false, w, co, false, y, co);
    a.bias = b;
    a.act = act;
    a.slope = slope;
    gemm(a);
    return;
  }
  const NnKernels<T>& kr = nn_kernels<T>();
  const GemmBlocking& bl = kr.blocking;
  const std::size_t kc_max = balanced_kc(k, bl.kc), npan = round_up(og, bl.nr);
  // B: group gi's K block starting at pc is at bp + gi*npan*k + pc*npan.
  T* bp = scratch<T>(1, g.groups * npan * k);
  for (std::size_t gi = 0; gi < g.groups; ++gi)
    for (std::size_t pc = 0; pc < k; pc += kc_max)
      kr.pack_b(std::min(kc_max, k - pc), og, w + pc * co + gi * og, co, false,
                bp + gi * npan * k + pc * npan);
  const std::size_t mblocks = ceil_div(m, bl.mc);
  parallel_for(mblocks * g.groups, m * k * co, kGemmMinParallelWork, [&](std::size_t item) {
    const std::size_t gi = item % g.groups, i0 = item / g.groups * bl.mc;
    const std::size_t mc = std::min(bl.mc, m - i0);
    T* ap = scratch<T>(0, round_up(mc, bl.mr) * kc_max);
    for (std::size_t pc = 0; pc < k; pc += kc_max) {
      const std::size_t kc = std::min(kc_max, k - pc);
      pack_patches(g, gi, x, i0, mc, pc, kc, bl.mr, ap);
      MicroEpilogue<T> e;
      e.load_c = pc > 0;
      e.last = pc + kc >= k;
      e.act = act;
      e.slope = slope;
      const T* bk = bp + gi * npan * k + pc * npan;
      for (std::size_t jr = 0; jr < og; jr += bl.nr) {
        e.bias = b ? b + gi * og + jr : nullptr;
        for (std::size_t ir = 0; ir < mc; ir += bl.mr)
          kr.micro(kc, ap + ir * kc, bk + jr * kc, y + (i0 + ir) * co + gi * og + jr, co,
                   std::min(bl.mr, mc - ir), std::min(bl.nr, og - jr), e);
      }
    }
  });
}

template <class T>
std::array<double, 2> conv2d_backward(const ConvBackwardArgs<T>& a) {
  const ConvGeom& g = a.g;
  const std::size_t m = g.rows(), k = g.depth(), og = g.og(), co = g.cout;
  act_backward_pass(m, co, a.dout, a.y, a.dyp, a.db, a.grad);
  if (g.is_pointwise()) {
    gemm(gemm_args(g.c, co, m, a.x, g.c, true, a.dyp, co, false, a.dw, co));
  } else {
    // Chunks of whole images, a fixed number per chunk; dw accumulates the chunks in order.
    const std::size_t per = g.oh * g.ow;
    const std::size_t chunk =
        std::max<std::size_t>(1, kColsBudget / std::max<std::size_t>(per * k, 1));
    if (m == 0) std::fill(a.dw, a.dw + k * co, T(0));
    T* cols = scratch<T>(0, std::min(chunk, g.n) * per * k);
    for (std::size_t n0 = 0; n0 < g.n; n0 += chunk) {
      const std::size_t r0 = n0 * per, rows = std::min(chunk, g.n - n0) * per;
      for (std::size_t gi = 0; gi < g.groups; ++gi) {
        im2col(g, gi, a.x, r0, rows, cols);
        GemmArgs<T> ga = gemm_args(k, og, rows, cols, k, true, a.dyp + r0 * co + gi * og, co, false,
                                   a.dw + gi * og, co);
        ga.accumulate = n0 > 0;
        gemm(ga);
      }
    }
  }
  const std::array<double, 2> sums =
      add_weight_penalty(k * co, a.w, a.dw, a.weight_l1, a.weight_2l2);
  if (!a.dx) return sums;
  if (g.is_pointwise()) {
    gemm(gemm_args(m, g.c, co, a.dyp, co, false, a.w, co, true, a.dx, g.c));
    return sums;
  }
  const std::size_t per = g.oh * g.ow, kall = k * g.groups;
  const std::size_t chunk =
      std::max<std::size_t>(1, kColsBudget / std::max<std::size_t>(per * kall, 1));
  T* dcols = scratch<T>(0, std::min(chunk, g.n) * per * kall);
  for (std::size_t n0 = 0; n0 < g.n; n0 += chunk) {
    const std::size_t count = std::min(chunk, g.n - n0), r0 = n0 * per, rows = count * per;
    for (std::size_t gi = 0; gi < g.groups; ++gi)
      gemm(gemm_args(rows, k, og, a.dyp + r0 * co + gi * og, co, false, a.w + gi * og, co, true,
                     dcols + gi * rows * k, k));
    col2im(g, n0, count, dcols, a.dx);
  }
  return sums;
}

template void conv2d_forward<float>(const ConvGeom&, const float*, const float*, const float*,
                                    float*, Act, float);
template void conv2d_forward<double>(const ConvGeom&, const double*, const double*, const double*,
                                     double*, Act, double);
template std::array<double, 2> conv2d_backward<float>(const ConvBackwardArgs<float>&);
template std::array<double, 2> conv2d_backward<double>(const ConvBackwardArgs<double>&);

}  // namespace cg
