// Portable drivers of the 2-D convolution and pooling layers over NHWC images.
//
// Layout: x (n, h, w, c) and y (n, oh, ow, cout), row-major; conv weight (kh, kw, c / groups,
// cout), i.e. for each group g a (kh*kw*cg) x cout matrix whose columns [g*og, (g+1)*og) are the
// group's B (cg = c / groups, og = cout / groups). Row i = (img, oy, ox) of the patch matrix of
// group g holds, for tap (ky, kx) and channel ci, x[img, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw,
// g*cg + ci] (0 outside the image), at column k = (ky*kw + kx)*cg + ci: the convolution is
// y_g = patches_g @ w_g (+ bias, activation), one GEMM per group with M = n*oh*ow, K = kh*kw*cg.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "nn/driver.h"

namespace cg {

struct ConvGeom {
  std::size_t n = 0, h = 0, w = 0, c = 0;      // input
  std::size_t oh = 0, ow = 0, cout = 0;        // output
  std::size_t kh = 1, kw = 1;                  // kernel
  std::size_t sh = 1, sw = 1, dh = 1, dw = 1;  // stride, dilation
  std::size_t pt = 0, pl = 0;                  // top and left zero padding
  std::size_t groups = 1;

  std::size_t cg() const { return c / groups; }
  std::size_t og() const { return cout / groups; }
  std::size_t rows() const { return n * oh * ow; }      // M
  std::size_t depth() const { return kh * kw * cg(); }  // K of one group
  // True when the patch matrix is the input itself (1x1, stride 1, no padding, one group).
  bool is_pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && groups == 1 &&
           oh == h && ow == w;
  }
};

// y = act(conv(x, w) + b), b may be null: an implicit GEMM (the patch matrix is packed straight
// into the GEMM's A micro-panels, never stored whole) with bias and activation fused into the
// microkernel's store; the pointwise case is the plain GEMM on x. Rows are split among threads
// in fixed blocks and K is never split: the same bits for any thread count.
template <class T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y, Act act, T slope);

// Backward pass of y = act(conv(x, w) + b):
//   dyp = (dout + act_l1*sign(y) + act_2l2*y) * act'(y)          (scratch, rows x cout)
//   dw  = patches^T @ dyp (per group) + weight_l1*sign(w) + weight_2l2*w
//   db  = column sums of dyp (when db is not null)
//   dx  = (when dx is not null) col2im(dyp @ w^T), or with stride 1 and >= 16 channels per group
//         the convolution of dyp with the flipped kernel; each image's dx is written by one
//         thread (no atomics).
// Computed per chunk of whole images, in parts fixed by the shapes whose partial dw/db are
// added in order: the same bits for any thread count.
// Returns {sum |w|, sum w^2} when a weight penalty is set (as dense_backward), else {0, 0}.
template <class T>
struct ConvBackwardArgs {
  ConvGeom g;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* y = nullptr;
  const T* dout = nullptr;
  T* dyp = nullptr;
  T* dw = nullptr;
  T* db = nullptr;
  T* dx = nullptr;
  ActGrad<T> grad;
  T weight_l1 = T(0), weight_2l2 = T(0);
};

template <class T>
std::array<double, 2> conv2d_backward(const ConvBackwardArgs<T>& a);

// Depthwise convolution with one filter per channel (cg == og == 1, not pointwise): used by
// conv2d_forward and conv2d_backward (nn/depthwise_driver.cpp). depthwise_backward: dw (= or +=
// when accumulate) and, when dx is not null, dx of the images [n0, n0 + count) from their dyp,
// one output pixel after another on the calling thread.
inline bool is_depthwise(const ConvGeom& g) {
  return g.cg() == 1 && g.og() == 1 && !g.is_pointwise();
}
template <class T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y, Act act,
                       T slope);
template <class T>
void depthwise_backward(const ConvGeom& g, const T* x, const T* w, const T* dyp, std::size_t n0,
                        std::size_t count, T* dw, T* dx, bool accumulate);

// Pooling windows over NHWC (same geometry fields; c == cout, groups 1, no weights).
// max: y = the window's maximum over the in-image elements, argmax (n, oh, ow, c) = its flat
// position iy*w + ix in the image (the first maximum in row-major window order; a NaN wins, the
// last NaN as torch's CPU kernel). avg: y = (sum of the in-image elements) / (kh*kw) (torch's
// count_include_pad=True). Backward: dx = 0 then each image's dout scattered by one thread in
// order.
template <class T>
void maxpool2d_forward(const ConvGeom& g, const T* x, T* y, std::int64_t* argmax);
template <class T>
void maxpool2d_backward(const ConvGeom& g, const T* dout, const std::int64_t* argmax, T* dx);
template <class T>
void avgpool2d_forward(const ConvGeom& g, const T* x, T* y);
template <class T>
void avgpool2d_backward(const ConvGeom& g, const T* dout, T* dx);

}  // namespace cg
