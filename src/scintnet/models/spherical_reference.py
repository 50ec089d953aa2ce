"""Reference S2/SO(3) convolutions: the first implementation, kept as the test reference.

One complex einsum per degree l and an SO(3) grid tensor per l (``SO3IFFT``): simple to read
and check against the maths, but ~10x slower than the layers of :mod:`.spherical`, which
must agree with these to float precision for the same weights (tests/test_models.py;
``scintnet bench models --model kamnet:paper`` times both).  Parameters and their names
are the same, so a state dict moves between the two.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .spherical import S2FFT, SO3FFT, SO3IFFT, _fbuf, s2_near_identity_grid, so3_equatorial_grid, wigner_d



class S2ConvolutionReference(nn.Module):
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


class SO3ConvolutionReference(nn.Module):
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
