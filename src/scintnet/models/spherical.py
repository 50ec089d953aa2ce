"""Spherical (S2) and rotation-group (SO(3)) convolutions in plain PyTorch.

Maths (no layers) first, then the layers.  This replaces the unmaintained ``s2cnn``
(whose CPU path is broken) with the same construction — generalised Fourier transforms on
the SOFT grids, convolution as a product of Fourier blocks — with precomputed Wigner-d
matrices.  Everything is real arithmetic (complex numbers carried as (re, im) pairs, the
small DFTs over alpha/gamma as matrix products with cos/sin tables): it runs on CPU and
GPU alike, has no complex dtypes, and exports to ONNX.  For the grids used here (2b <= 38
points per angle) the matrix DFT costs no more than an FFT plus the index shuffles.  Why not e3nn: e3nn works in the real spherical-harmonic basis,
where the rotation about z mixes m and -m, so the FFT over alpha/gamma that makes the
transforms O(b^4) instead of O(b^6) is not available; the dense real-basis transform
on a 28^3 SO(3) grid alone would be a 22k x 3.7k matrix per layer.

Conventions (Sakurai): R = (alpha, beta, gamma) in ZYZ, D^l_{mn}(R) = e^{-i m alpha}
d^l_{mn}(beta) e^{-i n gamma}, d^l(beta) = exp(-i beta J_y) with Condon–Shortley phases,
Y^l_m(theta, phi) = sqrt((2l+1)/4pi) e^{i m phi} d^l_{m0}(theta).
Grids for bandwidth b (N = 2b points per angle): beta_j = pi (2j+1) / (4b),
alpha_k = gamma_k = 2 pi k / (2b).  The KamNet 38 x 38 (theta, phi) map is the S2 grid of
b = 19.

* S2 correlation  h(R) = ∫ f(x) psi(R^-1 x) dx   ->  h^l_{mn} = conj(f^l_m) psi^l_n
* SO(3) correlation h(R) = ∫ f(Q) psi(R^-1 Q) dQ ->  h^l = f^l (psi^l)^† (8 pi^2 / (2l+1))
Kernels are sums of learnable point masses on small grids (s2cnn's "near-identity" S2 grid
and "equatorial" SO(3) grid), which fixes the parameter count of the paper's model.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg import expm
from torch import nn

# ----------------------------------------------------------------------------- maths


def wigner_d(l: int, beta: np.ndarray) -> np.ndarray:
    """d^l_{m'm}(beta) for all beta: float64[n_beta, 2l+1, 2l+1], index m + l."""
    m = np.arange(-l, l)
    c = np.sqrt(l * (l + 1) - m * (m + 1))  # <m+1|J+|m>
    jp = np.zeros((2 * l + 1, 2 * l + 1))
    jp[np.arange(1, 2 * l + 1), np.arange(0, 2 * l)] = c
    a = -(jp - jp.T) / 2.0  # -i J_y = -(J+ - J-)/2, real antisymmetric
    return np.stack([expm(b * a) for b in np.atleast_1d(beta)])


def beta_grid(b: int) -> tuple[np.ndarray, np.ndarray]:
    """SOFT beta nodes and weights: sum_j w_j g(beta_j) = ∫_0^pi g(beta) sin(beta) dbeta
    exactly for band-limited g (Kostelec & Rockmore, J. Fourier Anal. Appl. 14 (2008) 145)."""
    j = np.arange(2 * b)
    beta = np.pi * (2 * j + 1) / (4 * b)
    k = np.arange(b)
    w = (2.0 / b) * np.sin(beta) * (np.sin(np.outer(2 * j + 1, 2 * k + 1) * np.pi / (4 * b)) / (2 * k + 1)).sum(1)
    return beta, w


def s2_near_identity_grid(max_beta: float = np.pi / 8, n_alpha: int = 8, n_beta: int = 3) -> np.ndarray:
    """(beta, alpha) kernel support points near the north pole: float64[n, 2]."""
    beta = np.arange(1, n_beta + 1) * max_beta / n_beta
    alpha = np.linspace(0, 2 * np.pi, n_alpha, endpoint=False)
    bb, aa = np.meshgrid(beta, alpha, indexing="ij")
    return np.stack([bb.ravel(), aa.ravel()], 1)


def so3_equatorial_grid(max_beta: float = 0.0, max_gamma: float = np.pi / 8, n_alpha: int = 32, n_beta: int = 1,
                        n_gamma: int = 2) -> np.ndarray:
    """(alpha, beta, gamma) kernel support points around the equator: float64[n, 3]."""
    beta = np.linspace(np.pi / 2 - max_beta, np.pi / 2 + max_beta, n_beta)
    alpha = np.linspace(0, 2 * np.pi, n_alpha, endpoint=False)
    gamma = np.linspace(-max_gamma, max_gamma, n_gamma)
    a, b_, g = np.meshgrid(alpha, beta, gamma, indexing="ij")
    return np.stack([a.ravel(), b_.ravel(), g.ravel()], 1)


def so3_near_identity_grid(max_beta: float = np.pi / 8, max_gamma: float = 2 * np.pi, n_alpha: int = 8,
                           n_beta: int = 3, n_gamma: int | None = None) -> np.ndarray:
    n_gamma = n_alpha if n_gamma is None else n_gamma
    beta = np.arange(1, n_beta + 1) * max_beta / n_beta
    alpha = np.linspace(0, 2 * np.pi, n_alpha, endpoint=False)
    pre_gamma = np.linspace(-max_gamma, max_gamma, n_gamma, endpoint=False)
    a, b_, pg = np.meshgrid(alpha, beta, pre_gamma, indexing="ij")
    return np.stack([a.ravel(), b_.ravel(), (pg - a).ravel()], 1)


def _cbuf(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.complex64)


def _fbuf(x: np.ndarray) -> torch.Tensor:
    # entries below float32's normal range (Wigner-d at high l and small beta reach 1e-40) are
    # zeroed: they are far below float precision next to the O(1) entries, and denormal operands
    # made the GEMMs that touch them ~3x slower on CPU (measured)
    x = np.where(np.abs(x) < np.finfo(np.float32).tiny, 0.0, x)
    return torch.tensor(x, dtype=torch.float32)


# ----------------------------------------------------------------------------- transforms

Pair = tuple[torch.Tensor, torch.Tensor]  # (real, imaginary) parts of a complex tensor


def _m_range(L: int) -> np.ndarray:
    return np.arange(-(L - 1), L)


class S2FFT(nn.Module):
    """Real S2 signals on the (2b x 2b) (beta, alpha) grid -> coefficients f^l_m, l < L."""

    def __init__(self, b: int, L: int):
        super().__init__()
        if L > b:
            raise ValueError("output bandwidth must not exceed the grid bandwidth")
        self.b, self.L = b, L
        beta, w = beta_grid(b)
        n = 2 * b
        alpha = 2 * np.pi * np.arange(n) / n
        ang = np.outer(alpha, _m_range(L))  # [alpha, m]
        self.register_buffer("cos", _fbuf(np.cos(ang)), persistent=False)
        self.register_buffer("msin", _fbuf(-np.sin(ang)), persistent=False)  # e^{-i m alpha}
        for l in range(L):
            d = wigner_d(l, beta)[:, :, l]  # d^l_{m0}(beta_j): [n_beta, 2l+1]
            coef = math.sqrt((2 * l + 1) / (4 * math.pi)) * (2 * math.pi / n) * w[:, None] * d
            self.register_buffer(f"w{l}", _fbuf(coef), persistent=False)

    def forward(self, x: torch.Tensor) -> list[Pair]:
        """x: [B, C, 2b(beta), 2b(alpha)] -> list over l of ([B, C, 2l+1], [B, C, 2l+1])."""
        fr = x @ self.cos  # sum_k x e^{-i m alpha_k}: [B, C, beta, m]
        fi = x @ self.msin
        L = self.L
        out = []
        for l in range(L):
            w = getattr(self, f"w{l}")
            sl = slice(L - 1 - l, L + l)
            out.append((torch.einsum("bcjm,jm->bcm", fr[..., sl], w), torch.einsum("bcjm,jm->bcm", fi[..., sl], w)))
        return out


class SO3IFFT(nn.Module):
    """Coefficients h^l_{mn}, l < b -> real signal on the (2b)^3 (beta, alpha, gamma) grid."""

    def __init__(self, b: int):
        super().__init__()
        self.b = b
        beta, _ = beta_grid(b)
        n = 2 * b
        for l in range(b):
            self.register_buffer(f"d{l}", _fbuf(wigner_d(l, beta)), persistent=False)  # [nb, m, n]
        ang = np.outer(2 * np.pi * np.arange(n) / n, _m_range(b))  # [alpha or gamma, m]
        self.register_buffer("cos", _fbuf(np.cos(ang)), persistent=False)
        self.register_buffer("sin", _fbuf(np.sin(ang)), persistent=False)

    def forward(self, h: list[Pair]) -> torch.Tensor:
        b = self.b
        hr_acc = hi_acc = None
        for l, (hr, hi) in enumerate(h[:b]):
            d = getattr(self, f"d{l}")
            pad = (b - 1 - l,) * 4
            tr = nn.functional.pad(torch.einsum("bcmn,jmn->bcjmn", hr, d), pad)
            ti = nn.functional.pad(torch.einsum("bcmn,jmn->bcjmn", hi, d), pad)
            hr_acc = tr if hr_acc is None else hr_acc + tr
            hi_acc = ti if hi_acc is None else hi_acc + ti
        # sum_n H e^{-i n gamma_c}, then Re sum_m (.) e^{-i m alpha_a}
        tr = torch.einsum("bcjmn,gn->bcjmg", hr_acc, self.cos) + torch.einsum("bcjmn,gn->bcjmg", hi_acc, self.sin)
        ti = torch.einsum("bcjmn,gn->bcjmg", hi_acc, self.cos) - torch.einsum("bcjmn,gn->bcjmg", hr_acc, self.sin)
        return torch.einsum("bcjmg,am->bcjag", tr, self.cos) + torch.einsum("bcjmg,am->bcjag", ti, self.sin)


class SO3FFT(nn.Module):
    """Real signal on the (2b)^3 grid -> coefficients h^l_{mn} for l < L."""

    def __init__(self, b: int, L: int):
        super().__init__()
        if L > b:
            raise ValueError("output bandwidth must not exceed the grid bandwidth")
        self.b, self.L = b, L
        beta, w = beta_grid(b)
        n = 2 * b
        for l in range(L):
            coef = (2 * l + 1) / (8 * math.pi**2) * w[:, None, None] * wigner_d(l, beta)
            self.register_buffer(f"w{l}", _fbuf(coef), persistent=False)
        ang = np.outer(2 * np.pi * np.arange(n) / n, _m_range(L))
        step = (2 * math.pi / n)  # quadrature weight of each alpha and gamma node
        self.register_buffer("cos", _fbuf(np.cos(ang) * step), persistent=False)
        self.register_buffer("sin", _fbuf(np.sin(ang) * step), persistent=False)

    def forward(self, x: torch.Tensor) -> list[Pair]:
        # sum_{a,c} x e^{+i m alpha_a} e^{+i n gamma_c} (2 pi / N)^2
        ur = x @ self.cos  # [B, C, beta, alpha, n]
        ui = x @ self.sin
        gr = torch.einsum("bcjan,am->bcjmn", ur, self.cos) - torch.einsum("bcjan,am->bcjmn", ui, self.sin)
        gi = torch.einsum("bcjan,am->bcjmn", ur, self.sin) + torch.einsum("bcjan,am->bcjmn", ui, self.cos)
        L = self.L
        out = []
        for l in range(L):
            w = getattr(self, f"w{l}")
            sl = slice(L - 1 - l, L + l)
            out.append((torch.einsum("bcjmn,jmn->bcmn", gr[:, :, :, sl, sl], w),
                        torch.einsum("bcjmn,jmn->bcmn", gi[:, :, :, sl, sl], w)))
        return out


def so3_integrate(x: torch.Tensor, layout: str = "bcjag") -> torch.Tensor:
    """Haar average over SO(3) of a grid signal -> [B, C].

    ``layout``: "bcjag" = [B, C, beta, alpha, gamma] (the default), or "agbcj" = [alpha, gamma,
    B, C, beta], the layout the fast layers pass between each other inside KamNet.
    """
    if layout not in ("bcjag", "agbcj"):
        raise ValueError(f"unknown SO(3) grid layout {layout!r}")
    jdim = 2 if layout == "bcjag" else 4
    _, w = beta_grid(x.shape[jdim] // 2)
    w = torch.tensor(w / 2.0, dtype=x.dtype, device=x.device)  # sum w = 2
    if layout == "bcjag":
        return torch.einsum("bcjxy,j->bc", x, w) / (x.shape[3] * x.shape[4])
    return torch.einsum("xybcj,j->bc", x, w) / (x.shape[0] * x.shape[1])


def to_complex(pairs: list[Pair]) -> list[torch.Tensor]:
    """(re, im) pairs -> complex tensors (for tests and analysis)."""
    return [torch.complex(r, i) for r, i in pairs]


# ----------------------------------------------------------------------------- layers
#
# The layers below compute exactly what the per-degree transforms above compute (the
# reference layers in :mod:`.spherical_reference` are built from them and the tests hold the
# two to float precision), organised for speed — ~10x per training step on 2 cores for the
# paper's bandwidths (``scintnet bench models --model kamnet:paper``):
#
# * every transform is a few large (batched) GEMMs over all degrees at once instead of one
#   einsum per l: the beta quadrature and synthesis are one bmm over the (m, n) pairs with
#   the Wigner-d tables zero where l < max(|m|, |n|);
# * complex products are single real GEMMs with block matrices [[Re, Im], [-Im, Re]] (no
#   complex dtypes, so ONNX export still works);
# * outputs are real, and for real inputs and kernels h^l_{-m,-n} = (-1)^{m-n} conj(h^l_{mn}),
#   so only n >= 0 is ever synthesised or multiplied (half the FLOPs of the largest steps);
# * the large SO(3) grid tensor is built once (not once per l), and the per-l padding of the
#   reference (an SO(3)-grid-sized tensor per degree) is gone.


def _synthesis_tables(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constant tables of the SO(3) synthesis h^l_{mn} (l < L, n >= 0) -> (2L)^3 grid.

    dsyn[m, n, l, j] = d^l_{mn}(beta_j) (0 where l < max(|m|, n)); em[(a, s), m] = cos/sin(m alpha_a);
    q[gamma, (s, n, r)] the gamma DFT that also combines the cos/sin parts and the real/imaginary
    parts, with weight 2 for n > 0 (the n < 0 half by symmetry).
    """
    M, J = 2 * L - 1, 2 * L
    beta, _ = beta_grid(L)
    dsyn = np.zeros((M, L, L, J))
    for l in range(L):
        d = wigner_d(l, beta)  # [j, m + l, n + l]
        dsyn[L - 1 - l:L + l, :l + 1, l, :] = np.transpose(d[:, :, l:], (1, 2, 0))
    ang = np.outer(2 * np.pi * np.arange(J) / J, _m_range(L))  # [alpha, m]
    em = np.stack([np.cos(ang), np.sin(ang)], 1).reshape(2 * J, M)
    n = np.arange(L)
    c = np.where(n == 0, 1.0, 2.0)
    g = np.outer(2 * np.pi * np.arange(J) / J, n)  # [gamma, n]
    q = np.zeros((J, 2, L, 2))
    q[:, 0, :, 0], q[:, 0, :, 1] = c * np.cos(g), c * np.sin(g)
    q[:, 1, :, 0], q[:, 1, :, 1] = -c * np.sin(g), c * np.cos(g)
    return dsyn, em, q.reshape(J, 4 * L)


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the incoming gradient contiguous: the gradient of a
    permuted/padded GEMM output otherwise reaches the GEMM's backward with two non-unit strides,
    where MKL falls back to a kernel ~8x slower than on a copied operand (measured, 2 cores)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        return g.contiguous()


def _check_layout(layout: str) -> str:
    if layout not in ("bcjag", "agbcj"):
        raise ValueError(f"unknown SO(3) grid layout {layout!r} (bcjag or agbcj)")
    return layout


class _SO3Synthesis(nn.Module):
    """h [M(m), L(n >= 0), 2 (re, im), B, C, L(l)] -> real signal on the (2L)^3 grid, in ``layout``."""

    def __init__(self, L: int, layout: str):
        super().__init__()
        self.L, self.layout = L, _check_layout(layout)
        dsyn, em, q = _synthesis_tables(L)
        self.register_buffer("dsyn", _fbuf(dsyn.reshape((2 * L - 1) * L, L, 2 * L)), persistent=False)
        self.register_buffer("em", _fbuf(em), persistent=False)
        self.register_buffer("q", _fbuf(q), persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        L = self.L
        M, J = 2 * L - 1, 2 * L
        B, C = h.shape[3], h.shape[4]
        g = torch.bmm(h.reshape(M * L, 2 * B * C, L), self.dsyn)  # sum_l h d: [(m, n), (r, b, c), beta]
        w = (self.em @ g.view(M, L * 2 * B * C * J)).view(J, 4 * L, B * C * J)  # alpha: [a, (s, n, r), x]
        out = torch.matmul(self.q, w).view(J, J, B, C, J)  # gamma and Re(): [a, g, b, c, beta]
        return out if self.layout == "agbcj" else out.permute(2, 3, 4, 0, 1).contiguous()


class S2Convolution(nn.Module):
    """S2 -> SO(3) correlation with kernels supported on ``grid`` (beta, alpha points).

    Input [B, C_in, 2 b_in, 2 b_in] (beta, alpha); output [B, C_out, 2 b_out, 2 b_out, 2 b_out]
    (beta, alpha, gamma), or [alpha, gamma, B, C_out, beta] with ``layout="agbcj"``.
    h^l_{mn} = conj(f^l_m) psi^l_n with psi = sum_g w_g conj(Y^l_n(x_g)).
    """

    def __init__(self, c_in: int, c_out: int, b_in: int, b_out: int, grid: np.ndarray | None = None,
                 layout: str = "bcjag"):
        super().__init__()
        if b_out > b_in:
            raise ValueError("output bandwidth must not exceed the grid bandwidth")
        grid = s2_near_identity_grid() if grid is None else grid
        self.c_in, self.c_out, self.b_in, self.b_out = c_in, c_out, b_in, b_out
        L, J = b_out, 2 * b_in
        M = 2 * L - 1
        self.weight = nn.Parameter(torch.randn(c_in, c_out, len(grid)) / math.sqrt(len(grid) * c_in))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1, 1))
        beta, w = beta_grid(b_in)
        ang = np.outer(2 * np.pi * np.arange(J) / J, _m_range(L))
        self.register_buffer("ea", _fbuf(np.concatenate([np.cos(ang), -np.sin(ang)], 1)), persistent=False)
        wan = np.zeros((M, J, L))  # beta quadrature [m, j, l]
        ybk = np.zeros((L, len(grid), 2, L, 2))  # kernel block [l, g, r_in, n >= 0, r_out]
        for l in range(L):
            d = wigner_d(l, beta)[:, :, l]  # d^l_{m0}(beta_j)
            wan[L - 1 - l:L + l, :, l] = (math.sqrt((2 * l + 1) / (4 * math.pi)) * (2 * math.pi / J) * w[:, None] * d).T
            y = (math.sqrt((2 * l + 1) / (4 * math.pi)) * np.exp(1j * np.outer(grid[:, 1], np.arange(l + 1)))
                 * wigner_d(l, grid[:, 0])[:, l:, l])  # Y^l_n(x_g), n >= 0
            yr, yi = y.real, -y.imag  # conj(Y)
            ybk[l, :, 0, :l + 1, 0], ybk[l, :, 0, :l + 1, 1] = yr, yi
            ybk[l, :, 1, :l + 1, 0], ybk[l, :, 1, :l + 1, 1] = yi, -yr
        self.register_buffer("wan", _fbuf(np.concatenate([wan, wan])), persistent=False)  # [(r, m), j, l]
        self.register_buffer("ybk", _fbuf(ybk), persistent=False)
        self.synthesis = _SO3Synthesis(L, layout)
        self.bias_shape = (1, 1, 1, c_out, 1) if layout == "agbcj" else (1, c_out, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, J, K = x.shape
        L, O = self.b_out, self.c_out
        M = 2 * L - 1
        f = (x.reshape(B * C * J, K) @ self.ea).view(B * C, J, 2 * M)  # alpha DFT: [(b, c), beta, (r, m)]
        f = torch.bmm(f.permute(2, 0, 1), self.wan)  # beta quadrature: [(r, m), (b, c), l]
        a = f.view(2, M, B, C, L).permute(4, 1, 2, 0, 3).reshape(L, M * B, 2 * C)  # [l, (m, b), (r, c)]
        p = torch.einsum("iog,lgrns->lrinso", self.weight, self.ybk).reshape(L, 2 * C, L * 2 * O)
        h = torch.bmm(a, p).view(L, M, B, L, 2, O).permute(1, 3, 4, 2, 5, 0)  # [m, n, s, b, o, l]
        return self.synthesis(h) + self.bias.view(self.bias_shape)


class SO3Convolution(nn.Module):
    """SO(3) -> SO(3) correlation with kernels supported on ``grid`` (alpha, beta, gamma).

    Input [B, C_in, 2 b_in, 2 b_in, 2 b_in]; output [B, C_out, 2 b_out, 2 b_out, 2 b_out]
    (beta, alpha, gamma); with ``layout="agbcj"`` both are [alpha, gamma, B, C, beta].
    h^l = f^l K^l with K^l = sum_g w_g D^l(R_g)^T.
    """

    def __init__(self, c_in: int, c_out: int, b_in: int, b_out: int, grid: np.ndarray | None = None,
                 layout: str = "bcjag"):
        super().__init__()
        if b_out > b_in:
            raise ValueError("output bandwidth must not exceed the grid bandwidth")
        grid = so3_equatorial_grid() if grid is None else grid
        self.c_in, self.c_out, self.b_in, self.b_out = c_in, c_out, b_in, b_out
        self.layout = _check_layout(layout)
        L, J = b_out, 2 * b_in
        M = 2 * L - 1
        self.weight = nn.Parameter(torch.randn(c_in, c_out, len(grid)) / math.sqrt(len(grid) * c_in))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1, 1))
        beta, w = beta_grid(b_in)
        step = 2 * math.pi / J  # quadrature weight of each alpha and gamma node
        ang = np.outer(2 * np.pi * np.arange(J) / J, _m_range(L))  # [alpha, m]
        ang_n = np.outer(2 * np.pi * np.arange(J) / J, np.arange(L))  # [gamma, n >= 0]
        # gamma DFT e^{+i n gamma} for n >= 0 (rows (r, n)); alpha DFT cos/sin(m alpha) (rows (s, m))
        self.register_buffer("eg", _fbuf(np.concatenate([np.cos(ang_n), np.sin(ang_n)], 1).T * step),
                             persistent=False)
        self.register_buffer("ea", _fbuf(np.concatenate([np.cos(ang).T, np.sin(ang).T], 0) * step), persistent=False)
        mm, nn_ = np.meshgrid(_m_range(L), np.arange(1, L), indexing="ij")
        # f^l_{m,-n} = (-1)^{m+n} conj(f^l_{-m,n}) for real signals: sign per (m, n > 0, re/im)
        sign = ((-1.0) ** (mm + nn_))[:, :, None, None, None] * np.array([1.0, -1.0])[None, None, None, None, :]
        self.register_buffer("sign", _fbuf(sign[:, :, :, :, :, None]), persistent=False)  # [m, n, 1, 1, r, 1]
        # beta quadrature [m, n >= 0, ((s, r), j), (r', l)], with the combination of the cos/sin and
        # re/im parts into e^{+i m alpha} (u_r + i u_i) folded in: re = (c, r) - (s, i), im = (c, i) + (s, r)
        comb = np.array([[[1.0, 0], [0, 1]], [[0, 1], [-1, 0]]])  # [s, r, r']
        wan = np.zeros((M, L, 2, 2, J, 2, L))
        for l in range(L):
            coef = (2 * l + 1) / (8 * math.pi**2) * w[:, None, None] * wigner_d(l, beta)[:, :, l:]  # [j, m, n]
            cj = np.transpose(coef, (1, 2, 0))  # [m, n, j]
            wan[L - 1 - l:L + l, :l + 1, :, :, :, :, l] = (cj[:, :, None, None, :, None]
                                                             * comb[None, None, :, :, None, :])
            m = np.arange(-l, l + 1)
            D = (np.exp(-1j * grid[:, 0, None, None] * m[None, :, None]) * wigner_d(l, grid[:, 1])
                 * np.exp(-1j * grid[:, 2, None, None] * m[None, None, :]))
            dt = np.transpose(D, (0, 2, 1))[:, :, l:]  # [g, n, k >= 0]
            blk = np.zeros((len(grid), 2, 2 * l + 1, l + 1, 2))  # [g, r_in, n, k, r_out]
            blk[:, 0, :, :, 0], blk[:, 0, :, :, 1] = dt.real, dt.imag
            blk[:, 1, :, :, 0], blk[:, 1, :, :, 1] = -dt.imag, dt.real
            self.register_buffer(f"kbk{l}", _fbuf(blk), persistent=False)
        self.register_buffer("wan", _fbuf(wan.reshape(M * L, 4 * J, 2 * L)), persistent=False)
        self.synthesis = _SO3Synthesis(L, layout)
        self.bias_shape = (1, 1, 1, c_out, 1) if layout == "agbcj" else (1, c_out, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "bcjag":
            x = x.permute(3, 4, 0, 1, 2)
        A, _, B, C, J = x.shape
        L, O = self.b_out, self.c_out
        M = 2 * L - 1
        # only n >= 0 is computed: the n < 0 half follows from the symmetry of real signals
        u = torch.matmul(self.eg, x.reshape(A, A, B * C * J))  # gamma DFT: [a, (r, n), (b, c, beta)]
        y = (self.ea @ u.view(A, -1)).view(2, M, 2, L, B * C, J)  # alpha DFT: [(s, m), (r, n), (b, c), beta]
        y = y.permute(1, 3, 4, 0, 2, 5).reshape(M * L, B * C, 4 * J)
        f = torch.bmm(y, self.wan).view(M, L, B, C, 2, L)  # beta quadrature: [m, n >= 0, b, c, r, l]
        fneg = (f.flip(0)[:, 1:] * self.sign).flip(1)  # n = -(L-1) .. -1
        f = torch.cat([fneg, f], 1)  # [m, n, b, c, r, l]
        hs = []
        for l, fl in enumerate(f.unbind(-1)):  # unbind: the backward stacks, no full-size zero fills per l
            sl, k = slice(L - 1 - l, L + l), 2 * l + 1
            a = fl[sl, sl].permute(2, 0, 4, 3, 1).reshape(B * k, 2 * C * k)  # [(b, m), (r, c, n)]
            kb = torch.einsum("iog,grnks->rinkso", self.weight, getattr(self, f"kbk{l}")).reshape(2 * C * k, -1).contiguous()
            h = _ContiguousGrad.apply(a @ kb).view(B, k, l + 1, 2, O).permute(1, 2, 3, 0, 4)  # [m, n>=0, s, b, o]
            hs.append(nn.functional.pad(h, (0, 0, 0, 0, 0, 0, 0, L - 1 - l, L - 1 - l, L - 1 - l)))
        return self.synthesis(torch.stack(hs, -1)) + self.bias.view(self.bias_shape)
