"""Models: parameter counts, spherical maths (round trips, SO(3) equivariance), attention."""

import math

import numpy as np
import pytest
import torch

from scintnet.models.kamnet import KAMNET_PRESETS, AttentionConvLSTM, KamNet
from scintnet.models.registry import build_model, count_parameters, list_models
from scintnet.models.spherical import (S2Convolution, S2FFT, SO3Convolution, SO3FFT, SO3IFFT, beta_grid,
                                       so3_integrate, to_complex, wigner_d)


def _dmat(l, a, b, g):
    m = np.arange(-l, l + 1)
    return np.exp(-1j * m[:, None] * a) * wigner_d(l, np.array([b]))[0] * np.exp(-1j * m[None, :] * g)


def _real_s2_coeffs(L, rng):
    coef = []
    for l in range(L):
        c = rng.normal(size=2 * l + 1) + 1j * rng.normal(size=2 * l + 1)
        for m in range(0, l + 1):
            if m == 0:
                c[l] = c[l].real
            else:
                c[l - m] = (-1) ** m * np.conj(c[l + m])
        coef.append(c)
    return coef


def _synth_s2(coef, b):
    beta, _ = beta_grid(b)
    alpha = 2 * np.pi * np.arange(2 * b) / (2 * b)
    f = np.zeros((2 * b, 2 * b), complex)
    for l, c in enumerate(coef):
        d = wigner_d(l, beta)[:, :, l]
        for i, m in enumerate(range(-l, l + 1)):
            f += c[i] * math.sqrt((2 * l + 1) / (4 * math.pi)) * d[:, i, None] * np.exp(1j * m * alpha)[None, :]
    return f.real


def test_wigner_d_known_values_and_unitarity():
    b = np.array([0.3, 1.2])
    d1 = wigner_d(1, b)
    np.testing.assert_allclose(d1[:, 1, 1], np.cos(b), atol=1e-12)  # d^1_00 = cos(beta)
    np.testing.assert_allclose(d1[:, 2, 1], -np.sin(b) / np.sqrt(2), atol=1e-12)  # d^1_10
    d5 = wigner_d(5, b)
    for k in range(2):
        np.testing.assert_allclose(d5[k] @ d5[k].T, np.eye(11), atol=1e-10)


def test_quadrature_and_transform_round_trips():
    b, L = 8, 6
    _, w = beta_grid(b)
    assert w.sum() == pytest.approx(2.0)  # ∫ sin(beta) dbeta
    rng = np.random.default_rng(0)
    coef = _real_s2_coeffs(L, rng)
    f = _synth_s2(coef, b)
    fh = to_complex(S2FFT(b, L)(torch.tensor(f[None, None], dtype=torch.float32)))
    for l in range(L):
        np.testing.assert_allclose(fh[l][0, 0].numpy(), coef[l], atol=2e-5)
    # SO(3): coefficients -> grid -> coefficients
    h = []
    for l in range(L):
        m = np.arange(-l, l + 1)
        x = torch.randn(1, 1, 2 * l + 1, 2 * l + 1, dtype=torch.complex64)
        s = torch.tensor((-1.0) ** (m[:, None] + m[None, :]), dtype=torch.float32)
        h.append(0.5 * (x + s * torch.flip(x, dims=(-2, -1)).conj()))  # real signal
    back = to_complex(SO3FFT(b, L)(SO3IFFT(b)([(x.real, x.imag) for x in h])))
    for l in range(L):
        assert (back[l] - h[l]).abs().max() < 1e-5


def test_spherical_convolutions_are_so3_equivariant():
    """Rotating the input rotates the output: exact (float precision) for the linear layers,
    and the Haar-integrated features with ReLUs are invariant up to sampling effects."""
    b = 8
    rng = np.random.default_rng(1)
    coef = _real_s2_coeffs(6, rng)
    R = (0.7, 1.1, -0.4)
    coef_r = [_dmat(l, *R) @ coef[l] for l in range(6)]
    x = torch.tensor(_synth_s2(coef, b)[None, None], dtype=torch.float32)
    xr = torch.tensor(_synth_s2(coef_r, b)[None, None], dtype=torch.float32)
    torch.manual_seed(0)
    c1, c2 = S2Convolution(1, 3, b, 6), SO3Convolution(3, 4, 6, 4)
    with torch.no_grad():
        y, yr = c1(x) - c1.bias, c1(xr) - c1.bias
        hy, hyr = to_complex(SO3FFT(6, 6)(y)), to_complex(SO3FFT(6, 6)(yr))
        for l in range(6):
            rot = torch.tensor(_dmat(l, *R).conj(), dtype=torch.complex64) @ hy[l][0, 0]
            assert (rot - hyr[l][0, 0]).abs().max() <= 1e-4 * hy[l].abs().max() + 1e-6
        z, zr = c2(y) - c2.bias, c2(yr) - c2.bias
        hz, hzr = to_complex(SO3FFT(4, 4)(z)), to_complex(SO3FFT(4, 4)(zr))
        for l in range(4):
            rot = torch.tensor(_dmat(l, *R).conj(), dtype=torch.complex64) @ hz[l][0, 0]
            assert (rot - hzr[l][0, 0]).abs().max() <= 1e-4 * hz[l].abs().max() + 1e-6
        f1 = so3_integrate(torch.relu(c2(torch.relu(c1(x)))))
        f2 = so3_integrate(torch.relu(c2(torch.relu(c1(xr)))))
        assert torch.allclose(f1, f2, rtol=0.05, atol=0.02 * float(f1.abs().max()))
        # a generic (non-rotation) change of the input changes the features a lot more
        f3 = so3_integrate(torch.relu(c2(torch.relu(c1(torch.roll(x, 3, dims=2))))))
        assert (f3 - f1).abs().max() > 3 * (f2 - f1).abs().max()


def test_kamnet_paper_parameter_count():
    m = KamNet(KAMNET_PRESETS["paper"])
    n = count_parameters(m)
    # original KamNet: ~3.54 M parameters, attention weight 28 x 22 x 38 x 38 = 889,504
    assert n == pytest.approx(3.54e6, rel=0.005)
    assert m.acl.attention_weight.numel() == 28 * 22 * 38 * 38
    assert m.cfg.bandwidths == (19, 14, 10, 6, 2)


def test_attention_is_a_distribution_over_time():
    acl = AttentionConvLSTM(5, 8, 8, (3, 4), (3, 3))
    x = torch.rand(3, 5, 8, 8)
    ctx, s = acl(x)
    assert ctx.shape == (3, 4, 8, 8) and s.shape == (3, 5)
    assert torch.allclose(s.sum(1), torch.ones(3))
    # the context is the attention-weighted mean of the hidden states: bounded by tanh
    assert ctx.abs().max() <= 1.0


@pytest.mark.parametrize("name", list_models())
def test_models_forward_backward(name):
    from scintnet.models.bench import _inputs

    m = build_model(name, "tiny")
    y = m(*_inputs(m, 4).values())
    assert y.shape == (4,)
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- fast == reference


@pytest.mark.parametrize("kind,shape,args", [("s2", (3, 4, 12, 12), (4, 5, 6, 4)), ("s2", (2, 3, 10, 10), (3, 2, 5, 5)),
                                              ("so3", (3, 4, 12, 12, 12), (4, 5, 6, 4)),
                                              ("so3", (2, 3, 8, 8, 8), (3, 6, 4, 2)),
                                              ("so3", (2, 3, 6, 6, 6), (3, 2, 3, 3))])
@pytest.mark.parametrize("layout", ["bcjag", "agbcj"])
def test_fast_spherical_layers_equal_the_reference(kind, shape, args, layout):
    """The fast layers compute the reference (per-degree) layers' outputs and gradients to float precision,
    in both grid layouts, from the same state dict."""
    from scintnet.models.spherical_reference import S2ConvolutionReference, SO3ConvolutionReference

    torch.manual_seed(3)
    Ref, Fast = (S2ConvolutionReference, S2Convolution) if kind == "s2" else (SO3ConvolutionReference, SO3Convolution)
    ref, fast = Ref(*args), Fast(*args, layout=layout)
    with torch.no_grad():
        ref.bias.normal_()
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(*shape, requires_grad=True)
    to_fast = (lambda t: t) if layout == "bcjag" or kind == "s2" else (lambda t: t.permute(3, 4, 0, 1, 2))
    from_fast = (lambda t: t) if layout == "bcjag" else (lambda t: t.permute(2, 3, 4, 0, 1))
    yr, yf = ref(x), from_fast(fast(to_fast(x)))
    assert yr.shape == yf.shape
    scale = yr.abs().max()
    assert (yr - yf).abs().max() <= 2e-6 * scale
    g = torch.randn_like(yr)
    gr = torch.autograd.grad(yr, [x, ref.weight, ref.bias], g)
    gf = torch.autograd.grad(yf, [x, fast.weight, fast.bias], g)
    for a, b in zip(gr, gf):
        assert (a - b).abs().max() <= 2e-6 * a.abs().max()


def test_fast_kamnet_equals_the_reference_kamnet():
    """Whole KamNet (tiny preset, with batch norm in training mode and dropout off): same logits and
    parameter gradients as with the reference spherical layers; batch-norm running statistics agree."""
    from dataclasses import replace

    cfg = replace(KAMNET_PRESETS["tiny"], dropout_fc=0.0, dropout_sph=0.0)
    torch.manual_seed(0)
    ref, fast = KamNet(cfg, reference=True), KamNet(cfg)
    fast.load_state_dict(ref.state_dict())
    x = (torch.rand(16, cfg.n_t, cfg.n_theta, cfg.n_phi) < 0.15).float() * torch.rand(16, cfg.n_t, cfg.n_theta, cfg.n_phi)
    w = torch.randn(16)
    yr, yf = ref(x), fast(x)
    assert (yr - yf).abs().max() <= 1e-4 * yr.abs().max()
    gr = torch.autograd.grad((w * yr).sum(), list(ref.parameters()))
    gf = torch.autograd.grad((w * yf).sum(), list(fast.parameters()))
    gscale = max(float(g.abs().max()) for g in gr)
    for (name, _), a, b in zip(ref.named_parameters(), gr, gf):
        # biases right before a batch norm have zero true gradient: compare on the global scale
        assert (a - b).abs().max() <= 1e-4 * gscale + 1e-3 * a.abs().max(), name
    for nr, nf in zip(ref.norms, fast.norms):
        assert torch.allclose(nr.running_mean, nf.running_mean, atol=1e-6)
        assert torch.allclose(nr.running_var, nf.running_var, atol=1e-6)
        assert int(nr.num_batches_tracked) == int(nf.num_batches_tracked) == 1
    ref.eval(), fast.eval()
    with torch.no_grad():
        assert (ref(x) - fast(x)).abs().max() <= 1e-5 * ref(x).abs().max()
    assert (ref.features(x) - fast.features(x)).abs().max() <= 1e-5 * ref.features(x).abs().max()


def test_configure_runtime_caps_threads_at_the_cores():
    from scintnet import available_cores, configure_runtime

    rt = configure_runtime(10_000)
    assert rt["threads"] == available_cores() == rt["cores"] and torch.get_num_threads() == rt["threads"]
    assert configure_runtime(1)["threads"] == 1 and torch.get_num_threads() == 1
    with pytest.raises(ValueError):
        configure_runtime(0)
    configure_runtime()


def test_bench_models_reports_fast_and_reference_step_times():
    """The machine-readable keys of `scintnet bench models --model kamnet:... --json` (issue 19)."""
    import json

    from typer.testing import CliRunner

    from scintnet.cli import app

    r = CliRunner().invoke(app, ["bench", "models", "--model", "kamnet:tiny", "--seconds", "0.2", "--threads", "1",
                                 "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)["models"]
    assert row["threads"] == 1 and row["batch"] == 32
    assert row["train_s_per_step"] > 0 and row["reference_train_s_per_step"] > 0
    assert row["speedup_train_step"] == pytest.approx(row["reference_train_s_per_step"] / row["train_s_per_step"])
    names = [x["layer"] for x in row["layers"]]
    assert names[0] == "attention_conv_lstm" and names[-1] == "head" and len(names) == 6
    assert all(x["forward_s_per_event"] > 0 and x["backward_s_per_event"] > 0 for x in row["layers"])


def test_reverse_time_kamnet_is_the_forward_net_on_time_flipped_maps():
    """reverse_time reads the bins last-to-first: the same as the forward ConvLSTM on the flipped
    input with its attention weights flipped, while S(t) stays indexed by the true time bin."""
    torch.manual_seed(0)
    rev = AttentionConvLSTM(6, 8, 8, (3, 4), (3, 3), reverse=True)
    fwd = AttentionConvLSTM(6, 8, 8, (3, 4), (3, 3))
    fwd.load_state_dict(rev.state_dict())
    with torch.no_grad():
        fwd.attention_weight.copy_(rev.attention_weight.flip(0))
    x = torch.rand(3, 6, 8, 8)
    c_r, s_r = rev(x)
    c_f, s_f = fwd(x.flip(1))
    assert torch.allclose(c_r, c_f, atol=1e-6) and torch.allclose(s_r, s_f.flip(1), atol=1e-6)
    # and the order matters: the forward net on the unflipped input differs
    assert not torch.allclose(fwd(x)[0], c_r, atol=1e-4)


def test_scaled_attention_is_the_unscaled_one_with_w_over_sqrt_d():
    """attention_scaled divides the eq.-3 score by sqrt(C theta phi): the same function as the
    unscaled net with W / sqrt(d), and for the same weights
    log-odds between time bins sqrt(d) times smaller: a softmax that saturates later."""
    torch.manual_seed(1)
    sc = AttentionConvLSTM(6, 8, 8, (3, 4), (3, 3), scaled=True)
    un = AttentionConvLSTM(6, 8, 8, (3, 4), (3, 3))
    un.load_state_dict(sc.state_dict())
    d = 4 * 8 * 8
    assert sc.score_scale == pytest.approx(1 / math.sqrt(d))
    with torch.no_grad():
        sc.attention_weight.normal_(0, 3.0)
        un.attention_weight.copy_(sc.attention_weight / math.sqrt(d))
    x = torch.rand(4, 6, 8, 8)
    c_s, s_s = sc(x)
    c_u, s_u = un(x)
    assert torch.allclose(c_s, c_u, atol=1e-6) and torch.allclose(s_s, s_u, atol=1e-6)
    with torch.no_grad():
        un.attention_weight.copy_(sc.attention_weight)
        s_s, s_u = sc(x)[1], un(x)[1]
    # same weights: the unscaled log-odds between time bins are sqrt(d) = 16 times the scaled ones
    lo_s, lo_u = s_s.log() - s_s.log()[:, :1], s_u.log() - s_u.log()[:, :1]
    assert torch.allclose(lo_u, lo_s * math.sqrt(d), rtol=1e-3, atol=1e-4)
    assert float(lo_s.abs().max()) > 1e-3
    assert KAMNET_PRESETS["cpu_wide"].attention_scaled and not KAMNET_PRESETS["paper"].attention_scaled


def test_reverse_lstm_reads_the_spectrum_last_to_first():
    from scintnet.models.baselines import LSTMConfig, TimeLSTM

    torch.manual_seed(1)
    rev = TimeLSTM(LSTMConfig(n_t=10, hidden=8, fc=8, dropout=0.0, reverse=True)).eval()
    fwd = TimeLSTM(LSTMConfig(n_t=10, hidden=8, fc=8, dropout=0.0)).eval()
    fwd.load_state_dict(rev.state_dict())
    x = torch.rand(4, 10)
    assert torch.allclose(rev(x), fwd(x.flip(1)), atol=1e-6)
    assert not torch.allclose(rev(x), fwd(x), atol=1e-4)
    assert build_model("lstm", "cpu").cfg.reverse  # the presets read it reversed (issue 19)
