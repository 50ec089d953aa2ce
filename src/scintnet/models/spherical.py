"""Spherical (S2) and rotation-group (SO(3)) convolutions in plain PyTorch.

Maths (no layers) first, then the layers.  This replaces the unmaintained ``s2cnn``
(whose CPU path is broken) with the same construction — generalised FFTs on the SOFT
grids, convolution as a product of Fourier blocks — written with ``torch.fft`` and
precomputed Wigner-d matrices, so it runs on CPU and GPU alike and exports to ONNX-free
TorchScript-able code.  Why not e3nn: e3nn works in the real spherical-harmonic basis,
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


class S2FFT(nn.Module):
    """Real S2 signals on the (2b x 2b) (beta, alpha) grid -> coefficients f^l_m, l < L."""

    def __init__(self, b: int, L: int):
        super().__init__()
        if L > b:
            raise ValueError("output bandwidth must not exceed the grid bandwidth")
        self.b, self.L = b, L
        beta, w = beta_grid(b)
        n = 2 * b
        for l in range(L):
            d = wigner_d(l, beta)[:, :, l]  # d^l_{m0}(beta_j): [n_beta, 2l+1]
            coef = math.sqrt((2 * l + 1) / (4 * math.pi)) * (2 * math.pi / n) * w[:, None] * d
            self.register_buffer(f"w{l}", _fbuf(coef), persistent=False)
        self.register_buffer("midx", torch.tensor(np.arange(-(L - 1), L) % n), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: [B, C, 2b(beta), 2b(alpha)] -> list over l of complex [B, C, 2l+1]."""
        f = torch.fft.fft(x.float(), dim=-1)[..., self.midx]  # sum_k x e^{-i m alpha_k}
        L = self.L
        return [torch.einsum("bcjm,jm->bcm", f[..., L - 1 - l:L + l], getattr(self, f"w{l}").to(f.dtype))
                for l in range(L)]


class SO3IFFT(nn.Module):
    """Coefficients h^l_{mn}, l < b -> real signal on the (2b)^3 (beta, alpha, gamma) grid."""

    def __init__(self, b: int):
        super().__init__()
        self.b = b
        beta, _ = beta_grid(b)
        for l in range(b):
            self.register_buffer(f"d{l}", _fbuf(wigner_d(l, beta)), persistent=False)  # [nb, m, n]
        self.register_buffer("idx", torch.tensor(np.arange(-(b - 1), b) % (2 * b)), persistent=False)

    def forward(self, h: list[torch.Tensor]) -> torch.Tensor:
        b, n = self.b, 2 * self.b
        B, C = h[0].shape[:2]
        acc = torch.zeros(B, C, n, 2 * b - 1, 2 * b - 1, dtype=torch.complex64, device=h[0].device)
        for l, hl in enumerate(h[:b]):
            s = slice(b - 1 - l, b + l)
            acc[:, :, :, s, s] = acc[:, :, :, s, s] + torch.einsum(
                "bcmn,jmn->bcjmn", hl, getattr(self, f"d{l}").to(hl.dtype))
        full = torch.zeros(B, C, n, n, n, dtype=torch.complex64, device=acc.device)
        full[:, :, :, self.idx[:, None], self.idx[None, :]] = acc
        # sum_{mn} H[m,n] e^{-i m alpha_a} e^{-i n gamma_c} = fft2 over (m, n)
        return torch.fft.fft2(full).real  # [B, C, beta, alpha, gamma]


class SO3FFT(nn.Module):
    """Real signal on the (2b)^3 grid -> coefficients h^l_{mn} for l < L."""

    def __init__(self, b: int, L: int):
        super().__init__()
        if L > b:
            raise ValueError("output bandwidth must not exceed the grid bandwidth")
        self.b, self.L = b, L
        beta, w = beta_grid(b)
        for l in range(L):
            coef = (2 * l + 1) / (8 * math.pi**2) * w[:, None, None] * wigner_d(l, beta)
            self.register_buffer(f"w{l}", _fbuf(coef), persistent=False)
        self.register_buffer("idx", torch.tensor(np.arange(-(L - 1), L) % (2 * b)), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        n = 2 * self.b
        # sum_{a,c} x e^{+i m alpha_a} e^{+i n gamma_c} (2pi/N)^2 = 4 pi^2 ifft2
        g = torch.fft.ifft2(x.float()) * (4 * math.pi**2)
        g = g[:, :, :, self.idx[:, None], self.idx[None, :]]
        L = self.L
        return [torch.einsum("bcjmn,jmn->bcmn", g[:, :, :, L - 1 - l:L + l, L - 1 - l:L + l],
                             getattr(self, f"w{l}").to(g.dtype)) for l in range(L)]


def so3_integrate(x: torch.Tensor) -> torch.Tensor:
    """Haar average over SO(3) of a grid signal [B, C, beta, alpha, gamma] -> [B, C]."""
    b = x.shape[2] // 2
    _, w = beta_grid(b)
    w = torch.tensor(w / 2.0, dtype=x.dtype, device=x.device)  # sum w = 2
    return torch.einsum("bcjxy,j->bc", x, w) / (x.shape[3] * x.shape[4])


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
            self.register_buffer(f"yc{l}", _cbuf(np.conj(y)), persistent=False)  # conj Y^l_n(x_g): [G, 2l+1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.fft(x)
        w = self.weight.to(torch.complex64)
        h = []
        for l, fl in enumerate(f):
            psi = torch.einsum("iog,gn->ion", w, getattr(self, f"yc{l}"))
            h.append(torch.einsum("bim,ion->bomn", fl.conj(), psi))
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
            self.register_buffer(f"dg{l}", _cbuf(np.transpose(D, (0, 2, 1))), persistent=False)  # [G, n, k]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.fft(x)
        w = self.weight.to(torch.complex64)
        h = []
        for l, fl in enumerate(f):
            K = torch.einsum("iog,gnk->ionk", w, getattr(self, f"dg{l}"))
            h.append(torch.einsum("bipn,ionk->bopk", fl, K))
        return self.ifft(h) + self.bias
