"""Large cosmic-ray events: snowballs and showers (off by default).

* **Snowball**: a disc of radius ``r_core`` (uniform in [``snowball_core_min``,
  ``snowball_core_max``] pixels) receives far more than the full well (it saturates in the
  frame of the hit), surrounded by a halo out to ``2.5 * r_core`` whose charge falls linearly
  from ``snowball_halo_dn`` at the core's edge to a tenth of it at the halo's edge.
* **Shower**: a disc of radius ``shower_radius`` pixels of faint charge, ``shower_dn`` per
  pixel (linear DN, a few times the read noise: only the ring-filtered signal-to-noise of the
  whole area reveals it).

Events arrive uniformly in space and frame at ``snowball_rate`` / ``shower_rate`` per pixel per
second, with their own random stream (seed, detector, purpose 4, integration), so switching them
on does not change the rest of an exposure. They are deposits in the cumulative linear signal
like cosmic rays (:func:`rampflow.simulate.detector.simulate_integration` takes them as extra
jumps); the truth file lists them in its EVENTS table.
"""

from __future__ import annotations

import math

import numpy as np

#: random-stream purpose of large events (see rampflow.simulate.detector.rng)
STREAM_EVENTS = 4
#: halo radius / core radius of a snowball
HALO_RATIO = 2.5
#: the charge of a snowball core, in full wells (it saturates whatever the bias)
CORE_WELLS = 3.0

EVENT_DTYPE = [("integration", "i4"), ("int_number", "i4"), ("kind", "U8"), ("group", "i4"), ("frame", "i4"),
               ("y", "f8"), ("x", "f8"), ("core_radius", "f8"), ("radius", "f8"), ("amplitude", "f8")]

#: physics parameters of large events and their defaults (in kinds.COMMON_PHYSICS)
PHYSICS = {
    "snowball_rate": 0.0,          # snowballs per pixel per second (0: none)
    "snowball_core_min": 2.5,      # radius of the saturated core [pixels], uniform in [min, max]
    "snowball_core_max": 5.0,
    "snowball_halo_dn": 1500.0,    # linear DN at the core's edge, falling to 10 % at 2.5 x the core radius
    "shower_rate": 0.0,            # showers per pixel per second (0: none)
    "shower_radius": 12.0,         # pixels
    "shower_dn": 25.0,             # linear DN per pixel
}


def draw_events(gen: np.random.Generator, geom, phys: dict) -> list:
    """The large events of one integration: a list of (kind, group, frame, y, x, core_radius,
    radius, amplitude) with the centre anywhere on the subarray (it may be cut by the edge)."""
    nfr, nf = geom.nframes_total, geom.nframes
    out = []
    if nfr < 2:
        return out
    area_time = geom.ny * geom.nx * nfr * geom.tframe
    for kind, rate in (("snowball", float(phys["snowball_rate"])), ("shower", float(phys["shower_rate"]))):
        if rate <= 0:
            continue
        for _ in range(int(gen.poisson(rate * area_time))):
            k = int(gen.integers(1, nfr))
            y = float(gen.uniform(0, geom.ny - 1))
            x = float(gen.uniform(0, geom.nx - 1))
            g = max(0, -(-(k - nf + 1) // (nf + geom.groupgap)))
            if kind == "snowball":
                rc = float(gen.uniform(float(phys["snowball_core_min"]), float(phys["snowball_core_max"])))
                out.append((kind, g, k, y, x, rc, HALO_RATIO * rc, float(phys["snowball_halo_dn"])))
            else:
                out.append((kind, g, k, y, x, 0.0, float(phys["shower_radius"]), float(phys["shower_dn"])))
    return out


def deposits(events: list, geom, full_well_dn: float) -> list:
    """Per-pixel deposits of ``events`` as cosmic-ray jumps (group, frame, y, x, amplitude)."""
    out = []
    for kind, g, k, cy, cx, rc, r, amp in events:
        y0, y1 = max(0, int(math.floor(cy - r))), min(geom.ny, int(math.ceil(cy + r)) + 1)
        x0, x1 = max(0, int(math.floor(cx - r))), min(geom.nx, int(math.ceil(cx + r)) + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        d = np.hypot(yy - cy, xx - cx)
        if kind == "snowball":
            a = np.where(d <= rc, CORE_WELLS * full_well_dn,
                         amp * (1.0 - 0.9 * (d - rc) / max(r - rc, 1e-9)))
            a = np.where(d <= r, a, 0.0)
        else:
            a = np.where(d <= r, amp, 0.0)
        for y, x, v in zip(yy[a > 0], xx[a > 0], a[a > 0]):
            out.append((g, k, int(y), int(x), float(v)))
    return out
