"""Plain-NumPy 2-D convolution, pooling and upsampling over NHWC images, written to be read.

Layout (Keras's channels_last): images ``x`` are ``(n, h, w, c)``; a convolution weight is
``(kh, kw, c // groups, cout)``. With zero padding ``(top, bottom, left, right)``, stride
``(sh, sw)`` and dilation ``(dh, dw)`` the output is ``(n, oh, ow, cout)``::

    oh = (h + top + bottom - dh*(kh - 1) - 1) // sh + 1          (likewise ow)
    y[i, p, q, g*og + o] = b[g*og + o] + sum over ky, kx, ci of
        xpad[i, p*sh + ky*dh, q*sw + kx*dw, g*cg + ci] * w[ky, kx, ci, g*og + o]

(cg = c // groups, og = cout // groups), followed by the activation: the cross-correlation of
torch.nn.functional.conv2d (Goodfellow et al., "Deep Learning", 9.5) after moving NCHW to NHWC
(``x.permute(0, 2, 3, 1)``, ``weight.permute(2, 3, 1, 0)``). Keras's "same" padding pads
``max((ceil(h / sh) - 1)*sh + dh*(kh - 1) + 1 - h, 0)`` rows in total, ``total // 2`` on top and
the rest at the bottom (``same_padding``).

Pooling follows torch.nn.MaxPool2d / AvgPool2d (ceil_mode=False): max pooling pads with -inf,
keeps the first maximum in row-major window order (a NaN wins) and its position ``iy*w + ix``;
average pooling divides the window sum (zeros for the padding) by ``kh*kw``
(count_include_pad=True). Nearest upsampling repeats each pixel ``size`` times along h and w.
"""

from __future__ import annotations

import numpy as np

from .dense import activation, activation_grad

__all__ = [
    "avgpool2d_backward",
    "avgpool2d_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv_output_size",
    "global_avgpool2d_backward",
    "global_avgpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "same_padding",
    "upsample_nearest_backward",
    "upsample_nearest_forward",
]


def conv_output_size(size: int, k: int, stride: int, pad_total: int, dilation: int = 1) -> int:
    """``(size + pad_total - dilation*(k - 1) - 1) // stride + 1``."""
    return (size + pad_total - dilation * (k - 1) - 1) // stride + 1


def same_padding(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow "same": the output has ``ceil(size / stride)`` positions; returns
    ``(before, after)`` with the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _geometry(x, kh, kw, stride, padding, dilation):
    (sh, sw), (dh, dw) = stride, dilation
    top, bottom, left, right = padding
    oh = conv_output_size(x.shape[1], kh, sh, top + bottom, dh)
    ow = conv_output_size(x.shape[2], kw, sw, left + right, dw)
    return oh, ow


def _tap(xpad, ky, kx, oh, ow, stride, dilation):
    """The (n, oh, ow, c) slice of the padded input that tap (ky, kx) multiplies."""
    (sh, sw), (dh, dw) = stride, dilation
    y0, x0 = ky * dh, kx * dw
    return xpad[:, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw, :]


def _pad(x, padding, value=0.0):
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def conv2d_forward(
    x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1,
    activation_name=None, negative_slope=0.01,
):  # fmt: skip
    """``y = act(conv(x, weight) + bias)`` (module docstring); bias may be None."""
    kh, kw, cg, cout = weight.shape
    og = cout // groups
    oh, ow = _geometry(x, kh, kw, stride, padding, dilation)
    xpad = _pad(x, padding)
    z = np.zeros((x.shape[0], oh, ow, cout), x.dtype)
    for g in range(groups):
        for ky in range(kh):
            for kx in range(kw):
                patch = _tap(xpad, ky, kx, oh, ow, stride, dilation)[..., g * cg : (g + 1) * cg]
                z[..., g * og : (g + 1) * og] += patch @ weight[ky, kx, :, g * og : (g + 1) * og]
    if bias is not None:
        z = z + bias
    return activation(z, activation_name, negative_slope)


def conv2d_backward(
    x, weight, y, dout, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1,
    activation_name=None, negative_slope=0.01, *, activity_l1=0.0, activity_l2=0.0,
    weight_l1=0.0, weight_l2=0.0,
):  # fmt: skip
    """Returns ``(dweight, dbias, dx)`` of ``y = act(conv(x, weight) + b)``.

    ``dyp = (dout + (activity_l1*sign(y) + 2*activity_l2*y) / n) * act'(y)`` (the activity
    penalty is per image, as Keras's), ``dweight[ky, kx] = tap(ky, kx)^T @ dyp`` per group (plus
    ``weight_l1*sign(w) + 2*weight_l2*w``), ``dbias = dyp`` summed over (n, oh, ow), and ``dx``
    the padded input's gradient (each tap's ``dyp @ w[ky, kx]^T`` added at its positions) with
    the padding cut off.
    """
    dt = y.dtype.type
    n = max(x.shape[0], 1)
    kh, kw, cg, cout = weight.shape
    og = cout // groups
    oh, ow = y.shape[1], y.shape[2]
    g_ = dout
    if activity_l1 != 0 or activity_l2 != 0:
        g_ = dout + (dt(activity_l1 / n) * np.sign(y) + dt(2.0 * activity_l2 / n) * y)
    dyp = activation_grad(g_, y, activation_name, negative_slope)
    xpad = _pad(x, padding)
    dxpad = np.zeros_like(xpad)
    dweight = np.zeros_like(weight)
    (sh, sw), (dh, dw) = stride, dilation
    for g in range(groups):
        dyg = dyp[..., g * og : (g + 1) * og]
        for ky in range(kh):
            for kx in range(kw):
                patch = _tap(xpad, ky, kx, oh, ow, stride, dilation)[..., g * cg : (g + 1) * cg]
                dweight[ky, kx, :, g * og : (g + 1) * og] = np.einsum("nhwc,nhwo->co", patch, dyg)
                wk = weight[ky, kx, :, g * og : (g + 1) * og]
                y0, x0 = ky * dh, kx * dw
                dxpad[
                    :, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw,
                    g * cg : (g + 1) * cg,
                ] += dyg @ wk.T  # fmt: skip
    if weight_l1 != 0 or weight_l2 != 0:
        dweight = dweight + (dt(weight_l1) * np.sign(weight) + dt(2.0 * weight_l2) * weight)
    top, _, left, _ = padding
    dx = dxpad[:, top : top + x.shape[1], left : left + x.shape[2], :]
    return dweight, dyp.sum(axis=(0, 1, 2)), np.ascontiguousarray(dx)


def maxpool2d_forward(x, pool_size, stride=None, padding=(0, 0)):
    """Returns ``(y, argmax)``: window maxima and their positions ``iy*w + ix`` (int64)."""
    kh, kw = pool_size
    sh, sw = stride or pool_size
    ph, pw = padding
    n, h, w, c = x.shape
    pads = (ph, ph, pw, pw)
    oh, ow = _geometry(x, kh, kw, (sh, sw), pads, (1, 1))
    xpad = _pad(x, pads, -np.inf)
    pos = _pad(np.arange(h * w).reshape(1, h, w, 1), pads, -1)
    y = np.full((n, oh, ow, c), -np.inf, x.dtype)
    arg = np.full((n, oh, ow, c), -1, np.int64)
    for ky in range(kh):
        for kx in range(kw):
            v = _tap(xpad, ky, kx, oh, ow, (sh, sw), (1, 1))
            p = np.broadcast_to(_tap(pos, ky, kx, oh, ow, (sh, sw), (1, 1)), v.shape)
            inside = p >= 0
            first = inside & (arg < 0)  # the first in-image element starts the window
            take = inside & ((v > y) | np.isnan(v) | first)
            y = np.where(take, v, y)
            arg = np.where(take, p, arg)
    return y, arg


def maxpool2d_backward(dout, argmax, x_shape):
    """``dx``: each output's gradient added at its argmax position."""
    n, h, w, c = x_shape
    dx = np.zeros((n, h * w, c), dout.dtype)
    ii = np.arange(n)[:, None, None, None]
    cc = np.arange(c)[None, None, None, :]
    np.add.at(dx, (np.broadcast_to(ii, argmax.shape), argmax, np.broadcast_to(cc, argmax.shape)),
              dout)  # fmt: skip
    return dx.reshape(x_shape)


def avgpool2d_forward(x, pool_size, stride=None, padding=(0, 0)):
    """Window sums (zero padding included) divided by ``kh*kw``."""
    kh, kw = pool_size
    stride = stride or pool_size
    pads = (padding[0], padding[0], padding[1], padding[1])
    oh, ow = _geometry(x, kh, kw, stride, pads, (1, 1))
    xpad = _pad(x, pads)
    s = np.zeros((x.shape[0], oh, ow, x.shape[3]), x.dtype)
    for ky in range(kh):
        for kx in range(kw):
            s += _tap(xpad, ky, kx, oh, ow, stride, (1, 1))
    return s / x.dtype.type(kh * kw)


def avgpool2d_backward(dout, x_shape, pool_size, stride=None, padding=(0, 0)):
    """``dx``: ``dout / (kh*kw)`` added to every element of each window."""
    kh, kw = pool_size
    sh, sw = stride or pool_size
    ph, pw = padding
    n, h, w, c = x_shape
    oh, ow = dout.shape[1], dout.shape[2]
    dxpad = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dout.dtype)
    g = dout / dout.dtype.type(kh * kw)
    for ky in range(kh):
        for kx in range(kw):
            dxpad[:, ky : ky + (oh - 1) * sh + 1 : sh, kx : kx + (ow - 1) * sw + 1 : sw, :] += g
    return np.ascontiguousarray(dxpad[:, ph : ph + h, pw : pw + w, :])


def global_avgpool2d_forward(x):
    """``(n, c)``: the mean over h and w."""
    return x.mean(axis=(1, 2))


def global_avgpool2d_backward(dout, x_shape):
    """Each pixel gets ``dout / (h*w)``."""
    n, h, w, c = x_shape
    return np.broadcast_to((dout / dout.dtype.type(h * w))[:, None, None, :], x_shape).copy()


def upsample_nearest_forward(x, size):
    """Each pixel repeated ``size[0]`` times along h and ``size[1]`` along w."""
    return np.repeat(np.repeat(x, size[0], axis=1), size[1], axis=2)


def upsample_nearest_backward(dout, size):
    """The sum of each pixel's ``size[0] x size[1]`` copies' gradients."""
    n, h, w, c = dout.shape
    sh, sw = size
    return dout.reshape(n, h // sh, sh, w // sw, sw, c).sum(axis=(2, 4))
