// 2-D convolution over NHWC images on the GEMM's packing and microkernel (see nn/conv.h).
//
// Forward: an implicit GEMM. The weights of every group and K block are packed once as the
// GEMM's B micro-panels; the rows of the output are cut into blocks of mc rows (fixed by the
// ISA's blocking, not by the thread count), and for each block and K block the thread that owns
// it packs the patch rows straight from x into A micro-panels and runs the microkernel, whose
// store adds the bias and applies the activation on the last K block.
// Backward: per chunk of whole images (a fixed size): the activation derivative and the bias
// gradient in one pass over the chunk's dout (as Dense), the chunk's patch matrix (im2col) and
// dw += patches^T @ dyp, and dcols = dyp @ w^T scattered back into dx by col2im (no atomics:
// each image's dx is written by the one thread that owns its chunk). Chunks run in parallel in
// fixed groups whose partial dw/db are added in order (see conv2d_backward).
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "nn/conv.h"
#include "nn/conv_kernels.h"

namespace cg {
namespace {

// im2col and col2im move fewer elements than this on one thread (a parallel region costs more
// than it saves on small copies).
constexpr std::size_t kMinParallelCopy = std::size_t(1) << 20;

// Elements of the im2col scratch of one backward chunk (whole images, at least one).
constexpr std::size_t kColsBudget = std::size_t(1) << 18;

// Per-thread scratch, grown on demand and reused by later calls (only packed copies of the
// inputs, fully rewritten before use).
template <class T>
T* scratch(int slot, std::size_t elems) {
  thread_local std::vector<T> buf[2];
  if (buf[slot].size() < elems) buf[slot].resize(elems);
  return buf[slot].data();
}

// The output position (image, oy, ox) of a row of the patch matrix, stepped row by row.
struct RowPos {
  std::size_t img, oy, ox;
  RowPos(const ConvGeom& g, std::size_t i)
      : img(i / g.ow / g.oh), oy(i / g.ow % g.oh), ox(i % g.ow) {}
  void next(const ConvGeom& g) {
    if (++ox == g.ow) {
      ox = 0;
      if (++oy == g.oh) oy = 0, ++img;
    }
  }
};

// d[j*ks] = s[j] for j < len (s null: zeros).
template <class T>
inline void copy_run(const T* s, std::size_t len, T* d, std::size_t ks) {
  if (s)
    for (std::size_t j = 0; j < len; ++j) d[j * ks] = s[j];
  else
    for (std::size_t j = 0; j < len; ++j) d[j * ks] = T(0);
}

// Writes elements [k0, k0 + kc) of the patch-matrix row at position p of group gi to d[0],
// d[ks], d[2*ks]...: runs of channels, zeros where the tap falls in the padding.
template <class T>
void patch_row(const ConvGeom& g, std::size_t gi, const T* x, const RowPos& p, std::size_t k0,
               std::size_t kc, T* d, std::size_t ks) {
  const std::size_t cg = g.cg();
  const std::ptrdiff_t h = static_cast<std::ptrdiff_t>(g.h), w = static_cast<std::ptrdiff_t>(g.w);
  const std::ptrdiff_t y0 =
      static_cast<std::ptrdiff_t>(p.oy * g.sh) - static_cast<std::ptrdiff_t>(g.pt);
  const std::ptrdiff_t x0 =
      static_cast<std::ptrdiff_t>(p.ox * g.sw) - static_cast<std::ptrdiff_t>(g.pl);
  const T* xi = x + p.img * g.h * g.w * g.c + gi * cg;
  if (k0 == 0 && kc == g.depth()) {  // a whole row: bounds checked once per kernel row
    // Few channels: a kernel row inside the image is copied as one run (measured: 1.4 -> 1.1 ms
    // for the forward of a 1->32 3x3 conv at 64x28x28; with 32 channels one run was slower).
    const bool contiguous = g.groups == 1 && g.dw == 1 && cg < 8;
    for (std::size_t ky = 0; ky < g.kh; ++ky) {
      const std::ptrdiff_t iy = y0 + static_cast<std::ptrdiff_t>(ky * g.dh);
      const T* xr = iy >= 0 && iy < h ? xi + static_cast<std::size_t>(iy) * g.w * g.c : nullptr;
      if (xr && contiguous && x0 >= 0 && x0 + static_cast<std::ptrdiff_t>(g.kw) <= w) {
        // The kernel row lies inside the image: its taps are one run of kw*c elements.
        copy_run(xr + static_cast<std::size_t>(x0) * g.c, g.kw * cg, d, ks);
        d += g.kw * cg * ks;
        continue;
      }
      for (std::size_t kx = 0; kx < g.kw; ++kx, d += cg * ks) {
        const std::ptrdiff_t ix = x0 + static_cast<std::ptrdiff_t>(kx * g.dw);
        copy_run(xr && ix >= 0 && ix < w ? xr + static_cast<std::size_t>(ix) * g.c : nullptr, cg, d,
                 ks);
      }
    }
    return;
  }
  const std::size_t kend = k0 + kc;
  std::size_t tap = k0 / cg, ci = k0 % cg, ky = tap / g.kw, kx = tap % g.kw;
  for (std::size_t k = k0; k < kend;) {
    const std::size_t len = std::min(cg - ci, kend - k);
    const std::ptrdiff_t iy = y0 + static_cast<std::ptrdiff_t>(ky * g.dh);
    const std::ptrdiff_t ix = x0 + static_cast<std::ptrdiff_t>(kx * g.dw);
    const bool in = iy >= 0 && ix >= 0 && iy < h && ix < w;
    copy_run(
        in ? xi + (static_cast<std::size_t>(iy) * g.w + static_cast<std::size_t>(ix)) * g.c + ci
           : nullptr,
        len, d, ks);
    k += len;
    d += len * ks;
    ci = 0;
    if (++kx == g.kw) kx = 0, ++ky;
  }
}

// Packs rows [i0, i0 + mc) x columns [k0, k0 + kc) of the patch matrix into micro-panels of mr
// rows, k-major (dst[p*mr*kc + k*mr + r]); rows past mc are zero (pack_a's layout). With runs of
// at least 8 channels, a micro-panel is packed run by run by the ISA's transposing kernel (rows
// in the padding read from `zeros`, at least cg elements); otherwise row by row.
template <class T>
void pack_patches(const ConvGeom& g, std::size_t gi, const T* x, std::size_t i0, std::size_t mc,
                  std::size_t k0, std::size_t kc, std::size_t mr, const T* zeros, T* dst) {
  const std::size_t cg = g.cg();
  const ConvKernels<T>& ck = conv_kernels<T>();
  RowPos pos(g, i0);
  constexpr std::size_t kMaxMr = 16;
  const bool runs = cg >= 8 && ck.mr == mr && mr <= kMaxMr;
  for (std::size_t p = 0; p < mc; p += mr, dst += mr * kc) {
    const std::size_t rows = std::min(mr, mc - p);
    if (!runs) {
      for (std::size_t r = 0; r < rows; ++r, pos.next(g))
        patch_row(g, gi, x, pos, k0, kc, dst + r, mr);
      for (std::size_t r = rows; r < mr; ++r)
        for (std::size_t k = 0; k < kc; ++k) dst[k * mr + r] = T(0);
      continue;
    }
    std::ptrdiff_t y0[kMaxMr], x0[kMaxMr];
    const T* xi[kMaxMr];
    for (std::size_t r = 0; r < mr; ++r, pos.next(g)) {
      xi[r] = r < rows ? x + pos.img * g.h * g.w * g.c + gi * cg : nullptr;
      y0[r] = static_cast<std::ptrdiff_t>(pos.oy * g.sh) - static_cast<std::ptrdiff_t>(g.pt);
      x0[r] = static_cast<std::ptrdiff_t>(pos.ox * g.sw) - static_cast<std::ptrdiff_t>(g.pl);
    }
    const std::size_t kend = k0 + kc;
    std::size_t tap = k0 / cg, ci = k0 % cg, ky = tap / g.kw, kx = tap % g.kw;
    for (std::size_t k = k0; k < kend;) {
      const std::size_t len = std::min(cg - ci, kend - k);
      const T* src[kMaxMr];
      for (std::size_t r = 0; r < mr; ++r) {
        const std::ptrdiff_t iy = y0[r] + static_cast<std::ptrdiff_t>(ky * g.dh);
        const std::ptrdiff_t ix = x0[r] + static_cast<std::ptrdiff_t>(kx * g.dw);
        const bool in = xi[r] && iy >= 0 && ix >= 0 && iy < static_cast<std::ptrdiff_t>(g.h) &&
                        ix < static_cast<std::ptrdiff_t>(g.w);
        src[r] =
            in ? xi[r] + (static_cast<std::size_t>(iy) * g.w + static_cast<std::size_t>(ix)) * g.c +
                     ci
               : zeros;
      }
      ck.pack_rows(src, len, dst + (k - k0) * mr);
      k += len;
      ci = 0;
      if (++kx == g.kw) kx = 0, ++ky;
    }
  }
}

// cols (rows x K, row-major) = rows [i0, i0 + rows) of group gi's patch matrix.
template <class T>
void im2col(const ConvGeom& g, std::size_t gi, const T* x, std::size_t i0, std::size_t rows,
            T* cols) {
  const std::size_t k = g.depth(), block = 256;
  parallel_for(ceil_div(rows, block), rows * k, kMinParallelCopy, [&](std::size_t b) {
    const std::size_t r1 = std::min(rows, (b + 1) * block);
    RowPos pos(g, i0 + b * block);
    for (std::size_t r = b * block; r < r1; ++r, pos.next(g))
      patch_row(g, gi, x, pos, 0, k, cols + r * k, 1);
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
  if (is_depthwise(g)) {
    depthwise_forward(g, x, w, b, y, act, slope);
    return;
  }
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
  const std::vector<T> zeros(g.cg(), T(0));  // what the padding's patch rows read
  const std::size_t mblocks = ceil_div(m, bl.mc);
  parallel_for(mblocks * g.groups, m * k * co, kGemmMinParallelWork, [&](std::size_t item) {
    const std::size_t gi = item % g.groups, i0 = item / g.groups * bl.mc;
    const std::size_t mc = std::min(bl.mc, m - i0);
    T* ap = scratch<T>(0, round_up(mc, bl.mr) * kc_max);
    for (std::size_t pc = 0; pc < k; pc += kc_max) {
      const std::size_t kc = std::min(kc_max, k - pc);
      pack_patches(g, gi, x, i0, mc, pc, kc, bl.mr, zeros.data(), ap);
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

namespace {

// With stride 1 (and at most "full" padding), dx is itself a convolution: of dyp, padded by
// dh*(kh - 1) - pt on top (likewise left; the bottom and right follow from the output size),
// with the kernel flipped in both directions and its channel axes swapped:
// wt[ky, kx, co, g*cg + ci] = w[kh-1-ky, kw-1-kx, ci, g*og + co]. Computed by the forward's
// implicit GEMM, it needs no patch-gradient buffer and no col2im. w empty: not applicable.
template <class T>
struct TransposedConv {
  ConvGeom g;
  std::vector<T> w;
};

template <class T>
TransposedConv<T> transposed_conv(const ConvGeom& g, const T* w) {
  TransposedConv<T> t;
  // Its GEMM has cg columns per group: below 16 the microkernel's tile would be mostly empty
  // (measured: 1 channel, 64x28x28, 32 filters: 4.8 ms with col2im, 13 ms this way).
  if (g.is_pointwise() || g.sh != 1 || g.sw != 1 || g.pt > g.dh * (g.kh - 1) ||
      g.pl > g.dw * (g.kw - 1) || g.cg() < 16)
    return t;
  t.g = g;
  t.g.h = g.oh;
  t.g.w = g.ow;
  t.g.c = g.cout;
  t.g.oh = g.h;
  t.g.ow = g.w;
  t.g.cout = g.c;
  t.g.pt = g.dh * (g.kh - 1) - g.pt;
  t.g.pl = g.dw * (g.kw - 1) - g.pl;
  const std::size_t cg = g.cg(), og = g.og();
  t.w.resize(g.kh * g.kw * og * g.c);
  for (std::size_t ky = 0; ky < g.kh; ++ky)
    for (std::size_t kx = 0; kx < g.kw; ++kx)
      for (std::size_t ci = 0; ci < cg; ++ci)
        for (std::size_t gi = 0; gi < g.groups; ++gi)
          for (std::size_t co = 0; co < og; ++co)
            t.w[((((g.kh - 1 - ky) * g.kw + (g.kw - 1 - kx)) * og + co) * g.c) + gi * cg + ci] =
                w[((ky * g.kw + kx) * cg + ci) * g.cout + gi * og + co];
  return t;
}

// The backward pass of the images [n0, n0 + count) (one chunk): dyp and its column sums (into
// db when not null) for the chunk's rows, dw (= or += patches^T @ dyp when accumulate) and, when
// a.dx is set, the chunk's images of dx.
template <class T>
void backward_chunk(const ConvBackwardArgs<T>& a, const TransposedConv<T>& tc, std::size_t n0,
                    std::size_t count, T* dw, T* db, bool accumulate) {
  const ConvGeom& g = a.g;
  const std::size_t k = g.depth(), og = g.og(), co = g.cout, per = g.oh * g.ow;
  const std::size_t r0 = n0 * per, rows = count * per;
  T* dyp = a.dyp + r0 * co;
  nn_kernels<T>().act_backward(rows, co, co, a.dout + r0 * co, a.y + r0 * co, dyp, db, a.grad);
  if (is_depthwise(g)) {
    depthwise_backward(g, a.x, a.w, dyp, n0, count, dw, a.dx, accumulate);
    return;
  }
  const bool pw = g.is_pointwise();
  T* cols = pw ? nullptr : scratch<T>(0, rows * k);
  for (std::size_t gi = 0; gi < g.groups; ++gi) {
    if (!pw) im2col(g, gi, a.x, r0, rows, cols);
    GemmArgs<T> ga = gemm_args(k, og, rows, pw ? a.x + r0 * g.c : cols, k, true, dyp + gi * og, co,
                               false, dw + gi * og, co);
    ga.accumulate = accumulate;
    gemm(ga);
  }
  if (!a.dx) return;
  if (pw) {
    gemm(gemm_args(rows, g.c, co, dyp, co, false, a.w, co, true, a.dx + r0 * g.c, g.c));
    return;
  }
  if (!tc.w.empty()) {  // dx as the convolution of dyp with the flipped kernel
    ConvGeom gt = tc.g;
    gt.n = count;
    conv2d_forward<T>(gt, dyp, tc.w.data(), nullptr, a.dx + n0 * g.h * g.w * g.c, Act::linear,
                      T(0));
    return;
  }
  T* dcols = scratch<T>(1, rows * k * g.groups);
  for (std::size_t gi = 0; gi < g.groups; ++gi)
    gemm(gemm_args(rows, k, og, dyp + gi * og, co, false, a.w + gi * og, co, true,
                   dcols + gi * rows * k, k));
  col2im(g, n0, count, dcols, a.dx);
}

}  // namespace

// The backward pass in chunks of whole images (kColsBudget elements of patches each) gathered in
// P parts of consecutive chunks (P from the shapes only: at most kPartsBudget elements of
// partial weight gradients). The parts run in parallel, each accumulating its chunks in order
// into its own partial dw and db (the first part straight into dw, db); the partials are then
// added in part order. Inside a part every GEMM is deterministic, so the result is the same bits
// for any thread count; with one part the GEMMs use the threads themselves.
constexpr std::size_t kPartsBudget = std::size_t(1) << 22;
constexpr std::size_t kMinChunks = 8;

template <class T>
std::array<double, 2> conv2d_backward(const ConvBackwardArgs<T>& a) {
  const ConvGeom& g = a.g;
  const std::size_t k = g.depth(), co = g.cout, per = g.oh * g.ow, wsize = k * co;
  // At least min(n, kMinChunks) chunks of near-equal size, at most kColsBudget patch elements
  // each.
  const std::size_t chunk_max =
      std::max<std::size_t>(1, kColsBudget / std::max<std::size_t>(per * k * g.groups, 1));
  const std::size_t want = std::max(ceil_div(g.n, chunk_max), std::min(g.n, kMinChunks));
  const std::size_t chunk = want ? ceil_div(g.n, want) : 1;
  const std::size_t chunks = ceil_div(g.n, chunk);
  const std::size_t parts = std::min(chunks, std::max<std::size_t>(1, kPartsBudget / (wsize + co)));
  if (chunks == 0) {  // no images: zero gradients
    std::fill(a.dw, a.dw + wsize, T(0));
    if (a.db) std::fill(a.db, a.db + co, T(0));
  }
  // The partials, in a buffer kept by the calling thread for its next calls.
  thread_local std::vector<T> partial_buf;
  if (parts > 1 && partial_buf.size() < (parts - 1) * (wsize + co))
    partial_buf.resize((parts - 1) * (wsize + co));
  T* const partial = partial_buf.data();
  const TransposedConv<T> tc = a.dx ? transposed_conv(g, a.w) : TransposedConv<T>();
  parallel_for(parts, g.n * per * k * co, kGemmMinParallelWork, [&](std::size_t p) {
    T* dw = p == 0 ? a.dw : partial + (p - 1) * (wsize + co);
    T* db = a.db ? (p == 0 ? a.db : dw + wsize) : nullptr;
    const std::size_t c0 = chunks * p / parts, c1 = chunks * (p + 1) / parts;
    std::vector<T> db_chunk(c1 - c0 > 1 && db ? co : 0);
    for (std::size_t c = c0; c < c1; ++c) {
      const bool later = c > c0 && db;
      backward_chunk(a, tc, c * chunk, std::min(chunk, g.n - c * chunk), dw,
                     later ? db_chunk.data() : db, c > c0);
      if (later)
        for (std::size_t j = 0; j < co; ++j) db[j] += db_chunk[j];
    }
  });
  for (std::size_t p = 1; p < parts; ++p) {  // the partials in part order
    const T* src = partial + (p - 1) * (wsize + co);
    for (std::size_t i = 0; i < wsize; ++i) a.dw[i] += src[i];
    if (a.db)
      for (std::size_t j = 0; j < co; ++j) a.db[j] += src[wsize + j];
  }
  return add_weight_penalty(wsize, a.w, a.dw, a.weight_l1, a.weight_2l2);
}

template void conv2d_forward<float>(const ConvGeom&, const float*, const float*, const float*,
                                    float*, Act, float);
template void conv2d_forward<double>(const ConvGeom&, const double*, const double*, const double*,
                                     double*, Act, double);
template std::array<double, 2> conv2d_backward<float>(const ConvBackwardArgs<float>&);
template std::array<double, 2> conv2d_backward<double>(const ConvBackwardArgs<double>&);

}  // namespace cg
