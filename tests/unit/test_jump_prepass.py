"""jump's large-event pre-pass in the one pass: from the uncal file, with the steps before jump
recomputed on row chunks (no dark_current ramp written), the flags equal those of stcal's
whole-exposure functions on the whole dark_current ramp in memory, on a simulated exposure
with snowballs and showers."""

import logging

import numpy as np
import pytest

from rampflow import dq, io, runner
from rampflow.kernels import jump_bits as KB
from rampflow.simulate import read_truth
from rampflow.steps import jump_events as E
from rampflow.steps.jump import JumpParams, run_detection
from rampflow.steps.jump_stream import DNU, JUMP, SAT, FlagStore

CHAIN = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current"]
SNOW = {"expand_large_events": True}
BOTH = {"expand_large_events": True, "find_showers": True}


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """NIRSpec TSO, 3 integrations x 8 groups of a 32 x 128 piece of SUB2048 with snowballs and
    showers, and its dark_current ramp (the steps before jump, per step)."""
    from rampflow.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("jump_prepass")
    sim = simulate_exposure(out, kind="nirspec_tso", detector="NRS1", nints=3, ngroups=8, size=[32, 128], seed=11,
                            snowball_rate=4e-4, shower_rate=2e-4, shower_dn=30.0)
    refs = {k: str(v) for k, v in sim.refs.items()}
    prev = str(sim.uncal)
    for step in CHAIN:
        runner.run([step], {"ramp": prev}, {step: out / f"{step}.fits"}, overrides=refs, use_crds_pars=False)
        prev = out / f"{step}.fits"
    return sim, refs, prev


def _whole_ramp(dark, refs, params):
    """stcal's way: detection on the whole cube, then flag_large_events and find_faint_extended
    on the whole GROUPDQ (rampflow.steps.jump_events' whole-exposure forms)."""
    with io.open_ramp(dark) as rf:
        sci, gdq = (np.array(a) for a in rf.read())
        pdq, meta = rf.pixeldq(), rf.meta
    step = runner.load_step("jump", meta, params=params, overrides=refs, use_crds_pars=False)[0]
    p = JumpParams(**step.params)
    run_detection(sci, gdq, pdq, step.readnoise, step.gain, p, group_time=meta.tgroup, nframes=meta.nframes)
    detected = gdq.copy()
    ep = E.event_params(p, meta.tgroup, meta.nframes)
    nsnow = E.flag_large_events(gdq, ep) if ep.expand_large_events else 0
    nshower = 0
    if ep.find_showers:
        gdq, nshower = E.find_faint_extended(sci * step.gain, gdq, pdq, step.readnoise * step.gain, ep)
    return detected, gdq, pdq, nsnow, nshower


@pytest.mark.parametrize("params", [SNOW, BOTH], ids=["snowballs", "snowballs+showers"])
def test_one_pass_prepass_equals_whole_ramp(events, params, tmp_path, caplog):
    sim, refs, dark = events
    detected, expected, pdq, nsnow, nshower = _whole_ramp(dark, refs, params)
    # the test has teeth: the simulator put snowballs in, and flagging them changed GROUPDQ
    # beyond the two-point detection (grown saturated cores, expanded jump discs)
    truth = read_truth(sim.truth)["events"]
    assert (np.asarray(truth["kind"]) == "snowball").sum() >= 2
    assert nsnow >= 2
    grown = (expected & dq.SATURATED) & ~(detected & dq.SATURATED)
    assert grown.any()
    assert ((expected & dq.JUMP_DET) & ~(detected & dq.JUMP_DET)).any()
    if params.get("find_showers"):
        assert nshower >= 1
    out = tmp_path / "jump.fits"
    with caplog.at_level(logging.INFO, logger="rampflow"):
        runner.run(CHAIN + ["jump"], {"ramp": sim.uncal}, {"jump": out}, overrides=refs, params={"jump": params},
                   chunk_mb=0.3, use_crds_pars=False)  # 3 row chunks
    assert " + ".join(CHAIN + ["jump"]) + " on " in caplog.text  # one pass over the uncal file
    assert "cannot share" not in caplog.text
    with io.open_ramp(out) as rf:
        _, gdq = rf.read()
        np.testing.assert_array_equal(gdq, expected)
        np.testing.assert_array_equal(rf.pixeldq(), pdq)
        h = rf.primary_header
    nevents = nshower if params.get("find_showers") else nsnow
    with io.open_ramp(dark) as rf:
        m = rf.meta
    total_time = m.tgroup * (m.nints * m.ngroups - m.nints - sum(E.count_dnu_planes(g) for g in expected))
    assert h["EXTNCRS"] == pytest.approx(1e6 * nevents / (total_time * m.subsize1 * m.subsize2))


def test_saturated_bits_kept_sparse_or_packed():
    """The pre-pass keeps each integration's SATURATED bits as indices while they are few and
    as packed bits once denser; either way they come back as given, from row chunks."""
    rng = np.random.default_rng(3)
    shape = (3, 6, 20, 37)
    sat = np.zeros(shape, bool)
    sat[0] = rng.random(shape[1:]) < 0.01    # sparse
    sat[1] = rng.random(shape[1:]) < 0.6     # dense: packed
    store = FlagStore(shape, SAT)
    for r0 in range(0, 20, 7):
        rows = slice(r0, min(20, r0 + 7))
        for i in range(3):
            store.add(i, rows, sat[i, :, rows])
    for i in range(3):
        np.testing.assert_array_equal(store.plane(i), sat[i])
    assert 1 in store.packed and 0 not in store.packed and 2 not in store.packed
    assert store.nbytes() <= 2 * store.packed_bytes


def test_jump_bits_sparse_equal_packed_with_dense_switch_and_all_jump_integration():
    """The JUMP bits kept as a FlagStore (indices while few, packed bits once denser, from row
    chunks) give back exactly the bits numpy packs, whatever the density: an empty
    integration, a sparse one, one that turns dense part-way through its rows and one with a
    jump in every group of every pixel; the store never holds more than the packed bits of
    an integration plus one chunk's indices. apply() ORs them into row chunks (clearing
    nothing) and or_into() into whole integrations, as unpacking the packed bits does; set()
    replaces an integration's bits and picks the smaller form."""
    rng = np.random.default_rng(21)
    shape = (4, 5, 23, 45)                     # odd width: the last byte padded
    nints, ngroups, ny, nx = shape
    jump = np.zeros(shape, bool)
    jump[1] = rng.random(shape[1:]) < 0.01     # sparse
    jump[2, :, 12:] = rng.random((ngroups, ny - 12, nx)) < 0.5  # dense in its later rows only
    jump[3] = True                             # every group of every pixel
    gdq = (jump * JUMP).astype(np.uint8) | (rng.random(shape) < 0.05).astype(np.uint8) * SAT
    store = FlagStore(shape, JUMP)
    peak = 0
    for r0 in range(0, ny, 5):
        rows = slice(r0, min(ny, r0 + 5))
        n = np.zeros(nints, np.int64)
        KB._count_flags_kernel(gdq[:, :, rows], JUMP, DNU, n, np.ones((nints, ngroups), bool))
        store.add_chunk(rows, gdq[:, :, rows], n)
        peak = max(peak, store.nbytes())
    assert sorted(store.packed) == [2, 3]      # 2 switched when its dense rows came
    assert store.sparse[0] == [] and len(store.sparse[1]) > 1
    chunk_indices = 4 * ngroups * 5 * nx
    assert peak <= nints * store.packed_bytes + chunk_indices
    store.compact()
    assert len(store.sparse[1]) == 1
    packed = np.packbits(jump, axis=-1)
    for i in range(nints):
        np.testing.assert_array_equal(np.packbits(store.plane(i), axis=-1), packed[i])
        cube = np.full(shape[1:], SAT, np.uint8)
        store.or_into(i, cube, JUMP)
        np.testing.assert_array_equal(cube, SAT | (np.unpackbits(packed[i], axis=-1, count=nx) * JUMP))
    base = rng.integers(0, 256, size=shape, dtype=np.uint8) & ~JUMP
    window = np.zeros((nints, ngroups, 12, nx), np.uint8)
    for r0 in (0, 7, 20):                      # chunks of rows, as views of a larger window
        rows = slice(r0, min(ny, r0 + 7))
        part = window[:, :, 2:2 + rows.stop - rows.start]
        part[...] = base[:, :, rows]
        store.apply(part, r0, JUMP)
        np.testing.assert_array_equal(part, base[:, :, rows] | (jump[:, :, rows] * JUMP))
    # replacing: a dense integration back to indices, a sparse one to all flagged, one emptied
    store.set(2, jump[1])
    store.set(1, np.ones(shape[1:], bool))
    store.set(3, np.zeros(shape[1:], bool))
    assert sorted(store.packed) == [1] and store.sparse[3] == [] and len(store.sparse[2]) == 1
    for i, want in ((1, np.ones(shape[1:], bool)), (2, jump[1]), (3, np.zeros(shape[1:], bool))):
        np.testing.assert_array_equal(store.plane(i), want)


def test_chunk_bookkeeping_kernels_match_numpy():
    """The pre-pass's per-chunk bookkeeping kernels give numpy's packbits, nonzero and
    all-planes on the chunk (odd widths: the last byte padded), and FlagStore.add_chunk keeps
    what add does integration by integration."""
    rng = np.random.default_rng(5)
    shape = (4, 5, 9, 21)
    gdq = rng.integers(0, 256, size=shape, dtype=np.uint8) & JUMP
    gdq |= SAT * (rng.random(shape) < 0.02).astype(np.uint8)  # sparse
    gdq[1] &= JUMP                                 # no SATURATED in integration 1
    gdq[2] |= np.uint8(SAT) * (rng.random(shape[1:]) < 0.9).astype(np.uint8)
    gdq[3, 2] |= DNU                               # one plane DO_NOT_USE in every pixel
    window = np.zeros((4, 5, 12, 21), np.uint8)
    window[:, :, 2:11] = gdq
    chunk = window[:, :, 2:11]                     # a view of a larger window, as the row stream gives
    bits = np.zeros((4, 5, 30, 3), np.uint8)
    KB._pack_flag_kernel(chunk, JUMP, bits, 10)
    np.testing.assert_array_equal(bits[:, :, 10:19], np.packbits((gdq & JUMP) != 0, axis=-1))
    assert not bits[:, :, :10].any() and not bits[:, :, 19:].any()
    counts = np.zeros(4, np.int64)
    planes = np.ones((4, 5), bool)
    KB._count_flags_kernel(chunk, SAT, DNU, counts, planes)
    np.testing.assert_array_equal(counts, ((gdq & SAT) != 0).sum(axis=(1, 2, 3)))
    np.testing.assert_array_equal(planes, ((gdq & DNU) != 0).all(axis=(2, 3)))
    assert planes[3, 2] and planes.sum() == 1
    full = (4, 5, 30, 21)
    a, b = FlagStore(full, SAT), FlagStore(full, SAT)
    expect = np.zeros(full, bool)
    for rows, part in ((slice(10, 19), chunk), (slice(0, 4), chunk[:, :, 5:])):  # the second: 2 already packed
        n = np.zeros(4, np.int64)
        KB._count_flags_kernel(part, SAT, DNU, n, planes)
        a.add_chunk(rows, part, n)
        for i in range(4):
            b.add(i, rows, (part[i] & SAT) != 0)
        expect[:, :, rows] = (part & SAT) != 0
    assert sorted(a.packed) == sorted(b.packed) == [2]
    for i in range(4):
        np.testing.assert_array_equal(a.plane(i), b.plane(i))
        np.testing.assert_array_equal(a.plane(i), expect[i])


@pytest.mark.parametrize("nx", [40, 37])
def test_max_box_area_kernel_matches_scipy_regions(nx):
    """The snowball search's pre-check: each plane's largest 8-connected region box equals
    what scipy's labelling (8-connectivity) and find_objects give (0 for an empty plane),
    with the rows read eight pixels a word (a width not a multiple of 8: the last pixels one
    by one; regions across word boundaries and in the tail columns)."""
    from scipy import ndimage

    rng = np.random.default_rng(12)
    cube = (rng.random((6, 17, nx)) < np.array([0.0, 0.02, 0.08, 0.2, 0.45, 0.0])[:, None, None]).astype(np.uint8)
    cube *= JUMP
    cube[5, 3, 5] = cube[5, 4, 6] = cube[5, 5, 7] = cube[5, 6, 8] = JUMP  # a diagonal: box 4 x 4
    cube[5, 10, 30:33] = JUMP | SAT
    cube[0] |= SAT                                   # another bit only: no region
    cube[5, 12:15, 7:9] = JUMP                       # across a word boundary: box 3 x 2
    cube[5, 0:2, nx - 4:nx] = JUMP                   # in the tail columns (nx = 37): box 2 x 4
    boxes = E.max_box_areas(cube, JUMP)
    for g in range(6):
        lab, _ = ndimage.label(cube[g] & JUMP, structure=np.ones((3, 3)))
        want = max([(b[0].stop - b[0].start) * (b[1].stop - b[1].start) for b in ndimage.find_objects(lab)],
                   default=0)
        assert boxes[g] == want, g
    assert boxes[0] == 0 and boxes[5] == 16


def test_flag_store_refuses_integrations_its_indices_cannot_address():
    """The kept flags are uint32 flat indices into an integration's (ngroups, ny, nx): a
    full frame of 1023 groups fits (4,290,772,992 samples), 1024 groups (2**32) does not and
    the error names the shape, rather than indices wrapping round onto other pixels."""
    FlagStore((1, 1023, 2048, 2048), JUMP)
    with pytest.raises(ValueError, match=r"1024 groups of 2048 x 2048 pixels"):
        FlagStore((2, 1024, 2048, 2048), JUMP)
