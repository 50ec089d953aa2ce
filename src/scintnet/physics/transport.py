"""Particle transport: primaries -> energy deposits, in concentric spherical regions.

Entry point: :func:`transport`.  Everything per particle runs in one Numba kernel that only
interpolates precomputed tables (photon attenuation per region, electron range and Birks tables
per region from :mod:`scintnet.physics.electron`).

Physics summary
---------------
Gammas
    Exact boundary crossing between the spheres; interactions photoabsorption (EPDL97
    photoionisation), Compton (Klein-Nishina, exact sampling as in Geant4's
    G4KleinNishinaCompton / Butcher & Messel, Nucl. Phys. 20, 15 (1960)) and pair production
    (e- and e+ share E - 2 m_e c^2 uniformly; both are tracked as charged particles, the e+
    annihilates).  Coherent scattering is not tracked (no energy deposit; attenuation lengths
    reported by ``materials.attenuation_length_mm`` include it).  Binding energies are deposited
    locally with the photo/Compton electron.  Photons below 10 keV (the table edge; 5 mm
    attenuation length in LS) are absorbed on the spot.  Photons leaving the last region escape.
Electrons / positrons
    Straight CSDA segments of equal energy loss (one point deposit when the range is < 1 mm,
    otherwise ceil(R / 2 mm) segments, at most 8) with a Highland multiple-scattering kink
    between segments; deposit at each segment's mid-path.  The whole track uses the material of
    its starting region (ranges are cm at most); the visible energy uses the region of each
    deposit.  Bremsstrahlung is not transported (deposited along the track).
Positrons
    After stopping: annihilation into two back-to-back 511 keV gammas; with probability
    ``scint.ops_fraction`` ortho-positronium forms and the annihilation is delayed by an
    exponential of mean ``scint.ops_lifetime_ns`` (o-Ps in LS decays by pick-off into two
    gammas).  Pair-production positrons are treated the same way.
Alphas
    Point deposit, Birks-quenched with the alpha table.

``Deposits.ptype`` convention: the type of the *primary-level* particle responsible: ELECTRON
/ POSITRON / ALPHA for the tracks of those primaries; GAMMA for every deposit made by a
secondary electron/positron of a photon interaction (Compton, photo, pair), including the
annihilation photons of a positron primary.  ``edep_MeV`` is the deposited kinetic energy;
``evis_MeV`` is the Birks-quenched energy times the region's light-yield scale (0 in
non-scintillating regions).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from scintnet.detector.config import Geometry, Scintillator
from scintnet.physics import electron as el
from scintnet.physics.materials import MATERIALS, linear_attenuation_per_mm
from scintnet.physics.particles import ALPHA, ELECTRON, GAMMA, POSITRON, Deposits, Primaries

C_MM_PER_NS = 299.792458
ME = el.ME_MEV
# Photon table: log-uniform grid, fine enough for linear interpolation (0.6 % steps).
G_EMIN, G_EMAX, N_G = 0.010, 10.0, 1201
G_GRID = np.geomspace(G_EMIN, G_EMAX, N_G)
T_MIN, T_MAX = el.T_MIN_MEV, el.T_MAX_MEV  # charged-particle table grid (MeV)

__all__ = ["transport", "quenched_energy", "csda_range_mm", "PhysicsTables", "build_tables",
           "sample_compton_cos", "first_interaction_distances"]

quenched_energy = el.quenched_energy
csda_range_mm = el.csda_range_mm


class PhysicsTables:
    """Per-region arrays passed to the kernel (region index = material slot)."""

    def __init__(self, geometry: Geometry, scint: Scintillator):
        regs = geometry.regions
        n = len(regs)
        self.r_outer = np.array([r.outer_radius_mm for r in regs], dtype=np.float64)
        self.vis_scale = np.array(
            [r.light_yield_scale if r.scintillating else 0.0 for r in regs], dtype=np.float64)
        self.mu = np.zeros((n, 3, N_G))  # photo, incoherent, pair (1/mm)
        self.e_range = np.zeros((n, el.N_T))
        self.e_evis = np.zeros((n, el.N_T))
        self.a_evis = np.zeros((n, el.N_T))
        self.x0 = np.zeros(n)
        for i, r in enumerate(regs):
            mat = MATERIALS[r.material]
            for k, p in enumerate(("photo", "incoherent", "pair")):
                self.mu[i, k] = linear_attenuation_per_mm(mat, G_GRID, p)
            t = el.charged_tables(mat, scint.birks_kB_mm_per_MeV)
            self.e_range[i] = t.range_mm
            self.e_evis[i] = t.evis_e
            self.a_evis[i] = t.evis_alpha
            self.x0[i] = t.x0_mm


def build_tables(geometry: Geometry, scint: Scintillator) -> PhysicsTables:
    return PhysicsTables(geometry, scint)


# --------------------------------------------------------------------------- numba kernel


@njit(cache=True, inline="always")
def _lerp_log(tab, row, lo, dlog, x):
    """Linear interpolation of tab[row] on a log-uniform grid starting at lo (step dlog)."""
    u = math.log(x / lo) / dlog
    n = tab.shape[1]
    if u <= 0.0:
        return tab[row, 0]
    if u >= n - 1:
        return tab[row, n - 1]
    i = int(u)
    f = u - i
    return tab[row, i] * (1.0 - f) + tab[row, i + 1] * f


@njit(cache=True)
def _charged_table(tab, row, lo, dlog, t):
    """Charged-particle table lookup, linear in T between log-spaced nodes (exact for Q = T)."""
    if t < lo:
        return tab[row, 0] * t / lo  # constant stopping power below the grid
    n = tab.shape[1]
    u = math.log(t / lo) / dlog
    i = int(u)
    if i >= n - 1:
        return tab[row, n - 1]
    g0 = lo * math.exp(i * dlog)
    g1 = g0 * math.exp(dlog)
    f = (t - g0) / (g1 - g0)
    return tab[row, i] * (1.0 - f) + tab[row, i + 1] * f


@njit(cache=True)
def _region(r2, r_outer):
    for i in range(r_outer.shape[0]):
        if r2 < r_outer[i] * r_outer[i]:
            return i
    return r_outer.shape[0]


@njit(cache=True)
def _iso():
    cz = 2.0 * np.random.random() - 1.0
    ph = 2.0 * math.pi * np.random.random()
    s = math.sqrt(max(0.0, 1.0 - cz * cz))
    return s * math.cos(ph), s * math.sin(ph), cz


@njit(cache=True)
def _rotate(ux, uy, uz, cost, phi):
    """Direction at polar angle acos(cost), azimuth phi relative to unit vector u."""
    sint = math.sqrt(max(0.0, 1.0 - cost * cost))
    cp, sp = math.cos(phi), math.sin(phi)
    if abs(uz) > 0.99999:
        sgn = 1.0 if uz > 0 else -1.0
        return sint * cp, sint * sp, sgn * cost
    d = math.sqrt(1.0 - uz * uz)
    nx = ux * cost + sint * (ux * uz * cp - uy * sp) / d
    ny = uy * cost + sint * (uy * uz * cp + ux * sp) / d
    nz = uz * cost - sint * d * cp
    nn = math.sqrt(nx * nx + ny * ny + nz * nz)
    return nx / nn, ny / nn, nz / nn


@njit(cache=True)
def sample_klein_nishina(k):
    """Return (epsilon = E'/E, cos theta) for a photon of k = E/m_e c^2 (exact rejection)."""
    eps0 = 1.0 / (1.0 + 2.0 * k)
    eps0sq = eps0 * eps0
    a1 = -math.log(eps0)
    a2 = 0.5 * (1.0 - eps0sq)
    while True:
        if a1 / (a1 + a2) > np.random.random():
            eps = math.exp(-a1 * np.random.random())
            epssq = eps * eps
        else:
            epssq = eps0sq + (1.0 - eps0sq) * np.random.random()
            eps = math.sqrt(epssq)
        onecost = (1.0 - eps) / (eps * k)
        sint2 = onecost * (2.0 - onecost)
        g = 1.0 - eps * sint2 / (1.0 + epssq)
        if g >= np.random.random():
            return eps, 1.0 - onecost


@njit(cache=True)
def _sample_kn_many(k, n, seed):
    np.random.seed(seed)
    out = np.empty(n)
    for i in range(n):
        out[i] = sample_klein_nishina(k)[1]
    return out


@njit(cache=True)
def _grow(ev, pos, tt, ed, ev_vis, pt, need):
    cap = ev.shape[0]
    if need <= cap:
        return ev, pos, tt, ed, ev_vis, pt
    new = max(2 * cap, need)
    ev2 = np.empty(new, np.int64)
    pos2 = np.empty((new, 7))
    tt2 = np.empty(new)
    ed2 = np.empty(new)
    evis2 = np.empty(new)
    pt2 = np.empty(new, np.int8)
    ev2[:cap] = ev
    pos2[:cap] = pos
    tt2[:cap] = tt
    ed2[:cap] = ed
    evis2[:cap] = ev_vis
    pt2[:cap] = pt
    return ev2, pos2, tt2, ed2, evis2, pt2


@njit(cache=True)
def _kernel(p_event, p_type, p_energy, p_t, p_dir, vertex, r_outer, vis_scale, mu, e_range,
            e_evis, a_evis, x0, ops_fraction, ops_tau, seed, stats):
    np.random.seed(seed)
    nreg = r_outer.shape[0]
    g_dlog = math.log(G_EMAX / G_EMIN) / (N_G - 1)
    t_lo = T_MIN
    t_dlog = math.log(T_MAX / T_MIN) / (e_range.shape[1] - 1)
    n_p = p_event.shape[0]
    cap = 8 * n_p + 64
    o_ev = np.empty(cap, np.int64)
    o_pos = np.empty((cap, 7))  # x, y, z, then the e-/e+ segment direction and starting kinetic energy
    o_t = np.empty(cap)
    o_ed = np.empty(cap)
    o_vis = np.empty(cap)
    o_pt = np.empty(cap, np.int8)
    n = 0
    # particle stack: type, x, y, z, ux, uy, uz, E, t, tag(ptype for deposits)
    SMAX = 256
    st_type = np.empty(SMAX, np.int64)
    st_f = np.empty((SMAX, 8))
    st_tag = np.empty(SMAX, np.int8)
    for ip in range(n_p):
        evt = p_event[ip]
        ns = 1
        st_type[0] = p_type[ip]
        st_f[0, 0] = vertex[evt, 0]
        st_f[0, 1] = vertex[evt, 1]
        st_f[0, 2] = vertex[evt, 2]
        dx, dy, dz = p_dir[ip, 0], p_dir[ip, 1], p_dir[ip, 2]
        if not (dx == dx and dy == dy and dz == dz):
            dx, dy, dz = _iso()
        st_f[0, 3] = dx
        st_f[0, 4] = dy
        st_f[0, 5] = dz
        st_f[0, 6] = p_energy[ip]
        st_f[0, 7] = p_t[ip]
        st_tag[0] = p_type[ip]
        while ns > 0:
            ns -= 1
            ptype = st_type[ns]
            x, y, z = st_f[ns, 0], st_f[ns, 1], st_f[ns, 2]
            ux, uy, uz = st_f[ns, 3], st_f[ns, 4], st_f[ns, 5]
            E, t = st_f[ns, 6], st_f[ns, 7]
            tag = st_tag[ns]
            if E <= 0.0:
                continue
            reg = _region(x * x + y * y + z * z, r_outer)
            if reg >= nreg:
                stats[0] += 1  # born outside: lost
                continue
            if ptype == GAMMA:
                # ---------------------------------------------------------- photon
                while True:
                    if E < G_EMIN:
                        # absorbed on the spot: one point deposit as an electron
                        ev2 = _grow(o_ev, o_pos, o_t, o_ed, o_vis, o_pt, n + 1)
                        o_ev, o_pos, o_t, o_ed, o_vis, o_pt = ev2
                        o_ev[n] = evt
                        o_pos[n, 0], o_pos[n, 1], o_pos[n, 2] = x, y, z
                        o_pos[n, 3], o_pos[n, 4], o_pos[n, 5], o_pos[n, 6] = 0.0, 0.0, 0.0, 0.0
                        o_t[n] = t
                        o_ed[n] = E
                        o_vis[n] = _charged_table(e_evis, reg, t_lo, t_dlog, E) * vis_scale[reg]
                        o_pt[n] = GAMMA
                        n += 1
                        break
                    tau = -math.log(1.0 - np.random.random())
                    interacted = False
                    while True:
                        mph = _lerp_log(mu[reg], 0, G_EMIN, g_dlog, E)
                        mco = _lerp_log(mu[reg], 1, G_EMIN, g_dlog, E)
                        mpa = _lerp_log(mu[reg], 2, G_EMIN, g_dlog, E)
                        mtot = mph + mco + mpa
                        b = x * ux + y * uy + z * uz
                        r2 = x * x + y * y + z * z
                        ro = r_outer[reg]
                        s_b = -b + math.sqrt(max(0.0, b * b - (r2 - ro * ro)))
                        nxt = reg + 1
                        if reg > 0 and b < 0.0:
                            ri = r_outer[reg - 1]
                            disc = b * b - (r2 - ri * ri)
                            if disc > 0.0:
                                s_in = -b - math.sqrt(disc)
                                if s_in < s_b:
                                    s_b = s_in
                                    nxt = reg - 1
                        s_i = tau / mtot
                        if s_i < s_b:
                            x += s_i * ux
                            y += s_i * uy
                            z += s_i * uz
                            t += s_i / C_MM_PER_NS
                            interacted = True
                            break
                        tau -= s_b * mtot
                        x += s_b * ux
                        y += s_b * uy
                        z += s_b * uz
                        t += s_b / C_MM_PER_NS
                        reg = nxt
                        if reg >= nreg:
                            break
                    if not interacted:
                        stats[1] += 1  # escaped
                        break
                    u = np.random.random() * mtot
                    if u < mph:
                        # photoabsorption: photo-electron along the photon direction
                        if ns < SMAX:
                            st_type[ns] = ELECTRON
                            st_f[ns, 0], st_f[ns, 1], st_f[ns, 2] = x, y, z
                            st_f[ns, 3], st_f[ns, 4], st_f[ns, 5] = ux, uy, uz
                            st_f[ns, 6], st_f[ns, 7] = E, t
                            st_tag[ns] = GAMMA
                            ns += 1
                        break
                    elif u < mph + mco:
                        k = E / ME
                        eps, cost = sample_klein_nishina(k)
                        phi = 2.0 * math.pi * np.random.random()
                        vx, vy, vz = _rotate(ux, uy, uz, cost, phi)
                        e1 = eps * E
                        te = E - e1
                        # electron momentum = p_gamma - p_gamma'
                        px, py, pz = E * ux - e1 * vx, E * uy - e1 * vy, E * uz - e1 * vz
                        pn = math.sqrt(px * px + py * py + pz * pz)
                        if ns < SMAX and pn > 0.0:
                            st_type[ns] = ELECTRON
                            st_f[ns, 0], st_f[ns, 1], st_f[ns, 2] = x, y, z
                            st_f[ns, 3], st_f[ns, 4], st_f[ns, 5] = px / pn, py / pn, pz / pn
                            st_f[ns, 6], st_f[ns, 7] = te, t
                            st_tag[ns] = GAMMA
                            ns += 1
                        ux, uy, uz = vx, vy, vz
                        E = e1
                    else:
                        # pair: share the kinetic energy uniformly, both along the photon
                        tk = E - 2.0 * ME
                        f = np.random.random()
                        for j in range(2):
                            if ns < SMAX:
                                st_type[ns] = ELECTRON if j == 0 else POSITRON
                                st_f[ns, 0], st_f[ns, 1], st_f[ns, 2] = x, y, z
                                st_f[ns, 3], st_f[ns, 4], st_f[ns, 5] = ux, uy, uz
                                st_f[ns, 6] = tk * f if j == 0 else tk * (1.0 - f)
                                st_f[ns, 7] = t
                                st_tag[ns] = GAMMA
                                ns += 1
                        break
            elif ptype == ALPHA:
                ev2 = _grow(o_ev, o_pos, o_t, o_ed, o_vis, o_pt, n + 1)
                o_ev, o_pos, o_t, o_ed, o_vis, o_pt = ev2
                o_ev[n] = evt
                o_pos[n, 0], o_pos[n, 1], o_pos[n, 2] = x, y, z
                o_pos[n, 3], o_pos[n, 4], o_pos[n, 5], o_pos[n, 6] = 0.0, 0.0, 0.0, 0.0
                o_t[n] = t
                o_ed[n] = E
                o_vis[n] = _charged_table(a_evis, reg, t_lo, t_dlog, E) * vis_scale[reg]
                o_pt[n] = tag
                n += 1
            else:
                # ------------------------------------------------ electron / positron
                mreg = reg
                rng = _charged_table(e_range, mreg, t_lo, t_dlog, E)
                nseg = 1
                if rng >= 1.0:
                    nseg = min(8, int(math.ceil(rng / 2.0)))
                ev2 = _grow(o_ev, o_pos, o_t, o_ed, o_vis, o_pt, n + nseg)
                o_ev, o_pos, o_t, o_ed, o_vis, o_pt = ev2
                q_hi = _charged_table(e_evis, mreg, t_lo, t_dlog, E)
                if nseg == 1:
                    o_ev[n] = evt
                    o_pos[n, 0], o_pos[n, 1], o_pos[n, 2] = x, y, z
                    o_pos[n, 3], o_pos[n, 4], o_pos[n, 5], o_pos[n, 6] = ux, uy, uz, E
                    o_t[n] = t
                    o_ed[n] = E
                    o_vis[n] = q_hi * vis_scale[reg]
                    o_pt[n] = tag
                    n += 1
                else:
                    t_hi = E
                    r_hi = rng
                    for sgi in range(nseg):
                        t_lo_e = E * (1.0 - (sgi + 1.0) / nseg)
                        if t_lo_e > 0.0:
                            r_lo = _charged_table(e_range, mreg, t_lo, t_dlog, t_lo_e)
                            q_lo = _charged_table(e_evis, mreg, t_lo, t_dlog, t_lo_e)
                        else:
                            r_lo = 0.0
                            q_lo = 0.0
                        ds = r_hi - r_lo
                        tm = 0.5 * (t_hi + t_lo_e)
                        gm = 1.0 + tm / ME
                        beta = math.sqrt(1.0 - 1.0 / (gm * gm))
                        hx = x + 0.5 * ds * ux
                        hy = y + 0.5 * ds * uy
                        hz = z + 0.5 * ds * uz
                        dreg = _region(hx * hx + hy * hy + hz * hz, r_outer)
                        o_ev[n] = evt
                        o_pos[n, 0], o_pos[n, 1], o_pos[n, 2] = hx, hy, hz
                        o_pos[n, 3], o_pos[n, 4], o_pos[n, 5], o_pos[n, 6] = ux, uy, uz, t_hi
                        o_t[n] = t + 0.5 * ds / (beta * C_MM_PER_NS)
                        o_ed[n] = t_hi - t_lo_e
                        o_vis[n] = (q_hi - q_lo) * (vis_scale[dreg] if dreg < nreg else 0.0)
                        o_pt[n] = tag
                        n += 1
                        x += ds * ux
                        y += ds * uy
                        z += ds * uz
                        t += ds / (beta * C_MM_PER_NS)
                        # Highland multiple-scattering kink (PDG eq. 34.15), projected
                        # Gaussians, at the segment's mean momentum
                        if sgi < nseg - 1 and ds > 0.0:
                            pc = math.sqrt(tm * (tm + 2.0 * ME))
                            lx = ds / x0[mreg]
                            th0 = 13.6 / (beta * pc) * math.sqrt(lx) * (1.0 + 0.038 * math.log(lx))
                            th0 = min(max(th0, 0.0), 1.5)
                            a = th0 * np.random.standard_normal()
                            c = th0 * np.random.standard_normal()
                            th = math.sqrt(a * a + c * c)
                            if th > math.pi:
                                th = math.pi
                            ux, uy, uz = _rotate(ux, uy, uz, math.cos(th),
                                                 2.0 * math.pi * np.random.random())
                        t_hi = t_lo_e
                        r_hi = r_lo
                        q_hi = q_lo
                if ptype == POSITRON:
                    # annihilation at rest, o-Ps pick-off delayed
                    if np.random.random() < ops_fraction:
                        t += -ops_tau * math.log(1.0 - np.random.random())
                        stats[2] += 1
                    ax, ay, az = _iso()
                    atag = GAMMA
                    for j in range(2):
                        if ns < SMAX:
                            sg = 1.0 if j == 0 else -1.0
                            st_type[ns] = GAMMA
                            st_f[ns, 0], st_f[ns, 1], st_f[ns, 2] = x, y, z
                            st_f[ns, 3], st_f[ns, 4], st_f[ns, 5] = sg * ax, sg * ay, sg * az
                            st_f[ns, 6], st_f[ns, 7] = ME, t
                            st_tag[ns] = atag
                            ns += 1
    return o_ev[:n], o_pos[:n], o_t[:n], o_ed[:n], o_vis[:n], o_pt[:n]


# --------------------------------------------------------------------------- Python API

_TABLE_CACHE: dict = {}


def _tables(geometry: Geometry, scint: Scintillator) -> PhysicsTables:
    key = (geometry.regions, scint.birks_kB_mm_per_MeV)
    tab = _TABLE_CACHE.get(key)
    if tab is None:
        tab = PhysicsTables(geometry, scint)
        _TABLE_CACHE[key] = tab
    return tab


def transport(primaries: Primaries, vertex_mm: np.ndarray, geometry: Geometry,
              scint: Scintillator, seed: int) -> Deposits:
    """Transport primaries from their event vertices and return the energy deposits.

    Parameters
    ----------
    primaries : Primaries
        Particles to transport; ``primaries.event`` indexes ``vertex_mm``.  Rows with
        ``direction`` None / NaN get isotropic directions.
    vertex_mm : float64[n_events, 3]
        Decay vertices (mm).
    geometry, scint : detector configuration (regions and materials, Birks kB, o-Ps).
    seed : int
        Seeds Numba's RNG inside the kernel: same inputs + seed -> identical deposits.

    Returns
    -------
    Deposits sorted by event (ties keep the primaries' order), times in ns (primary ``t_ns``
    + flight time + o-Ps delays), energies in MeV.
    """
    n = len(primaries)
    if n == 0:
        return Deposits.empty()
    tab = _tables(geometry, scint)
    order = np.argsort(primaries.event, kind="stable")
    p = primaries.select(order)
    if p.direction is None:
        dirs = np.full((n, 3), np.nan)
    else:
        dirs = np.ascontiguousarray(p.direction, dtype=np.float64)
    stats = np.zeros(4, np.int64)
    out = _kernel(
        np.ascontiguousarray(p.event, dtype=np.int64), np.ascontiguousarray(p.ptype, np.int64),
        np.ascontiguousarray(p.energy_MeV, np.float64), np.ascontiguousarray(p.t_ns, np.float64),
        dirs, np.ascontiguousarray(vertex_mm, dtype=np.float64), tab.r_outer, tab.vis_scale,
        tab.mu, tab.e_range, tab.e_evis, tab.a_evis, tab.x0, float(scint.ops_fraction),
        float(scint.ops_lifetime_ns), int(seed) % (2**32), stats,
    )
    ev, pos, t, ed, vis, pt = out
    return Deposits(ev.copy(), pos[:, :3].copy(), t.copy(), ed.copy(), vis.copy(), pt.copy(),
                    pos[:, 3:6].copy(), pos[:, 6].copy())


def sample_compton_cos(E_MeV: float, n: int, seed: int = 0) -> np.ndarray:
    """Sample ``n`` Compton scattering cosines at photon energy ``E_MeV`` (for validation)."""
    return _sample_kn_many(E_MeV / ME, n, seed)


def first_interaction_distances(E_MeV: float, n: int, geometry: Geometry,
                                scint: Scintillator, seed: int = 0) -> np.ndarray:
    """Distance travelled before the first interaction by pencil-beam gammas (validation).

    Gammas start at the origin along +z; the first interaction happens at the earliest deposit
    time t, so d = c t (electron flight adds < 1 mm).  Escaping events are dropped.
    """
    prim = Primaries(np.arange(n, dtype=np.int64), np.full(n, GAMMA, np.int8),
                     np.full(n, float(E_MeV)), np.zeros(n), np.tile([0.0, 0.0, 1.0], (n, 1)))
    dep = transport(prim, np.zeros((n, 3)), geometry, scint, seed)
    tmin = np.full(n, np.inf)
    np.minimum.at(tmin, dep.event, dep.t_ns)
    return tmin[np.isfinite(tmin)] * C_MM_PER_NS
