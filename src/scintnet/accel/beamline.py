"""A toy linac beamline in Cheetah and a machine "operating history" drawn from a few operating modes.

The beamline (:func:`build_beamline`) is 10 FODO cells (20 quadrupoles), 9 horizontal and 9 vertical
correctors in the first 9 cells, a two-dipole dogleg in the last cell (it turns the energy spread into
horizontal dispersion at the screen) and a screen at the end: 40 magnet settings in all, in the order of
:func:`setting_names`.  An operating point is one row of settings; tracking it (linear transfer maps of a
Gaussian :class:`cheetah.ParameterBeam`, all rows at once as one batched Cheetah call) gives the beam moments
at the screen, :data:`OUTPUT_NAMES`.

The operating history (:func:`sample_operating_history`) imitates seed 003's KEK-linac data: the machine is
run in a handful of operating modes (tunes for different beam destinations), each a centre in settings space,
and within a mode the settings wander by a small spread.  That multi-modal joint distribution of
(settings, screen moments) is what a GAN simulator of the machine has to reproduce.

Units: lengths in m, angles in rad, quadrupole strengths k1 in 1/m^2, energies in eV, emittances in m rad.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ScintnetError

try:
    import cheetah
    import torch
except ImportError:  # the accel extra is optional: the error names it when the beamline is built
    cheetah = None

#: the beam moments at the screen, the columns of :func:`track_settings`.  No emittance_y: without vertical
#: bends or coupling it is the incoming one for every setting (a constant column a GAN cannot learn from)
OUTPUT_NAMES: tuple[str, ...] = ("mu_x_m", "mu_y_m", "sigma_x_m", "sigma_y_m", "sigma_px_rad", "sigma_py_rad",
                                 "emittance_x_m_rad")

N_CELLS = 10        # FODO cells: a focusing and a defocusing quadrupole each
N_CORRECTORS = 9    # horizontal and vertical correctors, one of each in cells 0..8
N_DIPOLES = 2       # the dogleg in the last cell
N_SETTINGS = 2 * N_CELLS + 2 * N_CORRECTORS + N_DIPOLES


def require_cheetah() -> None:
    """Raise a one-line :class:`ScintnetError` naming the extra when Cheetah is not installed."""
    if cheetah is None:
        raise ScintnetError("the accelerator toy needs the accel extra: pip install 'scintnet[accel]' "
                            "(cheetah-accelerator)")


def setting_names() -> list[str]:
    """Names of the 40 settings, with units: ``q00_k1_per_m2`` .. ``q19_k1_per_m2``, ``hc0_angle_rad`` ..
    ``hc8_angle_rad``, ``vc0_angle_rad`` .. ``vc8_angle_rad``, ``b0_angle_rad``, ``b1_angle_rad``."""
    return ([f"q{i:02d}_k1_per_m2" for i in range(2 * N_CELLS)]
            + [f"hc{i}_angle_rad" for i in range(N_CORRECTORS)]
            + [f"vc{i}_angle_rad" for i in range(N_CORRECTORS)]
            + [f"b{i}_angle_rad" for i in range(N_DIPOLES)])


@dataclass(frozen=True)
class BeamlineConfig:
    """Geometry, nominal optics and the incoming beam (electrons).

    With these defaults the FODO cell is 2.8 m long and the nominal quadrupole focal length
    1 / (k1 L) = 1.25 m, inside the thin-lens stability limit f > L_cell / 4 = 0.7 m, so the modes' +-25 %
    changes of k1 keep the lattice stable.
    """

    quad_length_m: float = 0.2
    drift_length_m: float = 1.0          # each of the two drifts of a cell
    corrector_length_m: float = 0.1
    dipole_length_m: float = 0.5
    k1_nominal_per_m2: float = 4.0       # |k1| of the nominal FODO; sign + for QF (focusing in x)
    energy_eV: float = 1.0e9
    beta_m: float = 5.0                  # incoming beta_x = beta_y
    alpha: float = 0.0                   # incoming alpha_x = alpha_y
    emittance_m_rad: float = 1.0e-8      # incoming geometric emittance, both planes
    sigma_p: float = 1.0e-3              # relative momentum spread (the dogleg's dispersion acts on it)


@dataclass
class Beamline:
    """A built Cheetah segment, its incoming beam and the handles of the elements the settings drive."""

    segment: object
    incoming: object
    quads: list = field(default_factory=list)
    hcors: list = field(default_factory=list)
    vcors: list = field(default_factory=list)
    dipoles: list = field(default_factory=list)
    config: BeamlineConfig = field(default_factory=BeamlineConfig)

    @property
    def length_m(self) -> float:
        """Total path length from the entrance to the screen (m)."""
        return float(self.segment.length)

    def nominal_settings(self) -> np.ndarray:
        """The nominal FODO: quadrupoles at +-k1_nominal (QF first), correctors and dipoles off; shape (40,)."""
        k = self.config.k1_nominal_per_m2
        quads = np.array([k if i % 2 == 0 else -k for i in range(2 * N_CELLS)])
        return np.concatenate([quads, np.zeros(2 * N_CORRECTORS + N_DIPOLES)])


def build_beamline(config: BeamlineConfig | None = None) -> Beamline:
    """The Cheetah segment: per cell QF, (HC), drift, QD, (VC), drift; the last cell holds the dogleg
    (dipole, drift, dipole) instead of correctors; then a screen.  Float64 throughout (the physics tests
    compare moments to 1e-9)."""
    require_cheetah()
    c = config or BeamlineConfig()
    f64 = torch.float64

    def t(v):
        return torch.tensor(v, dtype=f64)

    bl = Beamline(segment=None, incoming=None, config=c)
    elements = []
    for cell in range(N_CELLS):
        qf = cheetah.Quadrupole(length=t(c.quad_length_m), k1=t(c.k1_nominal_per_m2), name=f"q{2 * cell:02d}",
                                dtype=f64)
        qd = cheetah.Quadrupole(length=t(c.quad_length_m), k1=t(-c.k1_nominal_per_m2),
                                name=f"q{2 * cell + 1:02d}", dtype=f64)
        bl.quads += [qf, qd]
        if cell < N_CORRECTORS:
            hc = cheetah.HorizontalCorrector(length=t(c.corrector_length_m), angle=t(0.0), name=f"hc{cell}", dtype=f64)
            vc = cheetah.VerticalCorrector(length=t(c.corrector_length_m), angle=t(0.0), name=f"vc{cell}", dtype=f64)
            bl.hcors.append(hc)
            bl.vcors.append(vc)
            elements += [qf, hc, cheetah.Drift(length=t(c.drift_length_m), name=f"d{cell}a", dtype=f64),
                         qd, vc, cheetah.Drift(length=t(c.drift_length_m), name=f"d{cell}b", dtype=f64)]
        else:
            # the dogleg's drift replaces the corrector lengths so every cell has the same quadrupole spacing
            b0 = cheetah.Dipole(length=t(c.dipole_length_m), angle=t(0.0), name="b0", dtype=f64)
            b1 = cheetah.Dipole(length=t(c.dipole_length_m), angle=t(0.0), name="b1", dtype=f64)
            bl.dipoles += [b0, b1]
            elements += [qf, b0, cheetah.Drift(length=t(c.drift_length_m + c.corrector_length_m
                                                        - c.dipole_length_m), name=f"d{cell}a", dtype=f64),
                         qd, b1, cheetah.Drift(length=t(c.drift_length_m + c.corrector_length_m
                                                        - c.dipole_length_m), name=f"d{cell}b", dtype=f64)]
    elements.append(cheetah.Screen(resolution=(64, 64), pixel_size=t((5e-5, 5e-5)), is_active=False,
                                   name="screen", dtype=f64))
    bl.segment = cheetah.Segment(elements, name="toy_linac")
    bl.incoming = cheetah.ParameterBeam.from_twiss(
        beta_x=t(c.beta_m), alpha_x=t(c.alpha), emittance_x=t(c.emittance_m_rad),
        beta_y=t(c.beta_m), alpha_y=t(c.alpha), emittance_y=t(c.emittance_m_rad),
        sigma_p=t(c.sigma_p), energy=t(c.energy_eV), dtype=f64)
    return bl


def apply_settings(beamline: Beamline, settings: np.ndarray) -> None:
    """Set every magnet from ``settings`` (shape (40,) or (N, 40), the order of :func:`setting_names`);
    an (N, 40) array sets length-N tensors, so one Cheetah track computes all N operating points."""
    s = np.asarray(settings, dtype=np.float64)
    if s.shape[-1] != N_SETTINGS or s.ndim not in (1, 2):
        raise ScintnetError(f"settings must have shape (N, {N_SETTINGS}), not {s.shape}")
    col = torch.from_numpy(np.ascontiguousarray(s.T))  # (40, N): one tensor per magnet
    i = 0
    for group, attr in ((beamline.quads, "k1"), (beamline.hcors, "angle"), (beamline.vcors, "angle"),
                        (beamline.dipoles, "angle")):
        for el in group:
            setattr(el, attr, col[i].clone())
            i += 1


def track_settings(beamline: Beamline, settings: np.ndarray, batch: int = 20000) -> np.ndarray:
    """Beam moments at the screen for each operating point: an (N, 7) array in the columns of
    :data:`OUTPUT_NAMES`; emittance_x is the projected one (the dogleg's dispersion enlarges it).  Tracked
    in batches of ``batch`` rows to bound memory."""
    require_cheetah()
    s = np.atleast_2d(np.asarray(settings, dtype=np.float64))
    out = np.empty((s.shape[0], len(OUTPUT_NAMES)))
    with torch.no_grad():
        for lo in range(0, s.shape[0], batch):
            apply_settings(beamline, s[lo:lo + batch])
            b = beamline.segment.track(beamline.incoming)
            cols = (b.mu_x, b.mu_y, b.sigma_x, b.sigma_y, b.sigma_px, b.sigma_py, b.projected_emittance_x)
            n = min(batch, s.shape[0] - lo)
            out[lo:lo + n] = np.stack([np.broadcast_to(v.detach().numpy(), (n,)) for v in cols], axis=1)
    return out


@dataclass(frozen=True)
class ModeConfig:
    """How the operating modes are drawn around the nominal lattice (fractions of k1_nominal, or rad).

    Mode centres: each quadrupole at k1_nominal * (1 + u * quad_mode_frac), u uniform in [-1, 1] with the
    nominal sign; correctors uniform in +-corrector_mode_rad; dipoles uniform in +-dipole_mode_rad.  Within
    a mode the settings are Gaussian about the centre with the ``*_spread`` standard deviations.
    """

    n_modes: int = 6
    quad_mode_frac: float = 0.25
    quad_spread_frac: float = 0.01
    corrector_mode_rad: float = 3.0e-4
    corrector_spread_rad: float = 1.0e-5
    dipole_mode_rad: float = 0.05
    dipole_spread_rad: float = 1.0e-3
    weights: tuple[float, ...] | None = None   # share of the history in each mode; None: equal


@dataclass
class OperatingHistory:
    """Operating points and what the screen saw.

    ``settings`` (N, 40) and ``outputs`` (N, 7) in the units of their names, ``mode`` (N,) the operating mode
    each row was drawn from, ``centres`` (n_modes, 40) the mode centres, ``weights`` (n_modes,) their shares.
    """

    settings: np.ndarray
    outputs: np.ndarray
    mode: np.ndarray
    centres: np.ndarray
    weights: np.ndarray
    setting_names: list[str]
    output_names: tuple[str, ...] = OUTPUT_NAMES

    @property
    def n_modes(self) -> int:
        return int(self.centres.shape[0])

    def joint(self) -> np.ndarray:
        """The (N, 47) vectors a simulator learns: settings then outputs."""
        return np.concatenate([self.settings, self.outputs], axis=1)


def mode_centres(beamline: Beamline, modes: ModeConfig, rng: np.random.Generator) -> np.ndarray:
    """The (n_modes, 40) operating-mode centres drawn as :class:`ModeConfig` says."""
    k0 = beamline.nominal_settings()[: 2 * N_CELLS]
    m = modes.n_modes
    quads = k0 * (1.0 + modes.quad_mode_frac * rng.uniform(-1.0, 1.0, (m, k0.size)))
    cors = rng.uniform(-modes.corrector_mode_rad, modes.corrector_mode_rad, (m, 2 * N_CORRECTORS))
    dips = rng.uniform(-modes.dipole_mode_rad, modes.dipole_mode_rad, (m, N_DIPOLES))
    return np.concatenate([quads, cors, dips], axis=1)


def sample_operating_history(n: int, seed: int = 0, modes: ModeConfig | None = None,
                             beamline: Beamline | None = None) -> OperatingHistory:
    """``n`` operating points from the modes of ``modes`` (centres and rows from one ``numpy`` Generator
    seeded with ``seed``: the same seed gives the same history), tracked to the screen."""
    modes = modes or ModeConfig()
    if modes.n_modes < 1 or n < 1:
        raise ScintnetError(f"need n >= 1 and n_modes >= 1, not n={n}, n_modes={modes.n_modes}")
    bl = beamline or build_beamline()
    rng = np.random.default_rng(seed)
    centres = mode_centres(bl, modes, rng)
    if modes.weights is None:
        w = np.full(modes.n_modes, 1.0 / modes.n_modes)
    else:
        w = np.asarray(modes.weights, float)
        if w.shape != (modes.n_modes,) or np.any(w < 0) or not w.sum() > 0:
            raise ScintnetError(f"weights must be {modes.n_modes} non-negative numbers, not {modes.weights}")
        w = w / w.sum()
    mode = rng.choice(modes.n_modes, size=n, p=w)
    k0 = np.abs(bl.nominal_settings()[: 2 * N_CELLS])
    spread = np.concatenate([k0 * modes.quad_spread_frac, np.full(2 * N_CORRECTORS, modes.corrector_spread_rad),
                             np.full(N_DIPOLES, modes.dipole_spread_rad)])
    settings = centres[mode] + rng.standard_normal((n, N_SETTINGS)) * spread
    return OperatingHistory(settings=settings, outputs=track_settings(bl, settings), mode=mode,
                            centres=centres, weights=w, setting_names=setting_names())
