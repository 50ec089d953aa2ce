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


def so3_integrate(x: torch.Tensor) -> torch.Tensor:
    """Haar average over SO(3) of a grid signal [B, C, beta, alpha, gamma] -> [B, C]."""
    b = x.shape[2] // 2
    _, w = beta_grid(b)
    w = torch.tensor(w / 2.0, dtype=x.dtype, device=x.device)  # sum w = 2
    return torch.einsum("bcjxy,j->bc", x, w) / (x.shape[3] * x.shape[4])


def to_complex(pairs: list[Pair]) -> list[torch.Tensor]:
    """(re, im) pairs -> complex tensors (for tests and analysis)."""
    return [torch.complex(r, i) for r, i in pairs]


# ----------------------------------------------------------------------------- layers


class S2Convolution(nn.Module):
    """S2 -> SO(3) correlation with kernels supported on ``grid`` (beta, alpha points).

    Input [B, C_in, 2 b_in, 2 b_in] (beta, alpha); output [B, C_out, 2 b_out, 2 b_out, 2 b_out].
    """

    def __init__(self, c_in: int, c_out: int, b_in: int, b_out: int, grid: np.ndarray | None = None):
        super().__init__()
        grid = s2_near_identity_grid() if grid is None else grid
        self.c_in, self.c_out, self.b_in, self.b_out = c_in, c_out, b_in, b_out
        self.fft = S2FFT(b_in, b_out)
        self.ifft = SO3IFFT(b_out)
        self.weight = nn.Parameter(torch.randn(c_in, c_out, len(grid)) / math.sqrt(len(grid) * c_in))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1, 1))
        for l in range(b_out):
            d = wigner_d(l, grid[:, 0])[:, :, l]  # d^l_{n0}(beta_g)
            y = math.sqrt((2 * l + 1) / (4 * math.pi)) * np.exp(1j * np.outer(grid[:, 1], np.arange(-l, l + 1))) * d
            yc = np.conj(y)  # conj Y^l_n(x_g): [G, 2l+1]
            self.register_buffer(f"ycr{l}", _fbuf(yc.real), persistent=False)
            self.register_buffer(f"yci{l}", _fbuf(yc.imag), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = []
        for l, (fr, fi) in enumerate(self.fft(x)):
            pr = torch.einsum("iog,gn->ion", self.weight, getattr(self, f"ycr{l}"))
            pi = torch.einsum("iog,gn->ion", self.weight, getattr(self, f"yci{l}"))
            # conj(f) psi
            h.append((torch.einsum("bim,ion->bomn", fr, pr) + torch.einsum("bim,ion->bomn", fi, pi),
                      torch.einsum("bim,ion->bomn", fr, pi) - torch.einsum("bim,ion->bomn", fi, pr)))
        return self.ifft(h) + self.bias


class SO3Convolution(nn.Module):
    """SO(3) -> SO(3) correlation with kernels supported on ``grid`` (alpha, beta, gamma)."""

    def __init__(self, c_in: int, c_out: int, b_in: int, b_out: int, grid: np.ndarray | None = None):
        super().__init__()
        grid = so3_equatorial_grid() if grid is None else grid
        self.c_in, self.c_out, self.b_in, self.b_out = c_in, c_out, b_in, b_out
        self.fft = SO3FFT(b_in, b_out)
        self.ifft = SO3IFFT(b_out)
        self.weight = nn.Parameter(torch.randn(c_in, c_out, len(grid)) / math.sqrt(len(grid) * c_in))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1, 1))
        for l in range(b_out):
            m = np.arange(-l, l + 1)
            d = wigner_d(l, grid[:, 1])  # [G, k, n]
            D = np.exp(-1j * grid[:, 0, None, None] * m[None, :, None]) * d * np.exp(
                -1j * grid[:, 2, None, None] * m[None, None, :])
            Dt = np.transpose(D, (0, 2, 1))  # [G, n, k]
            self.register_buffer(f"dgr{l}", _fbuf(Dt.real), persistent=False)
            self.register_buffer(f"dgi{l}", _fbuf(Dt.imag), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = []
        for l, (fr, fi) in enumerate(self.fft(x)):
            kr = torch.einsum("iog,gnk->ionk", self.weight, getattr(self, f"dgr{l}"))
            ki = torch.einsum("iog,gnk->ionk", self.weight, getattr(self, f"dgi{l}"))
            h.append((torch.einsum("bipn,ionk->bopk", fr, kr) - torch.einsum("bipn,ionk->bopk", fi, ki),
                      torch.einsum("bipn,ionk->bopk", fr, ki) + torch.einsum("bipn,ionk->bopk", fi, kr)))
        return self.ifft(h) + self.bias
