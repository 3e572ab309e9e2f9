"""The staggered row stream of a row pass (runner.row_stream): for any chunk budget, steps
with row halos get exactly the input a single chunk of all rows would give them, and steps
without a halo process every row once (no recomputed halo rows)."""

import numpy as np
import pytest

from rampflow.runner.row_stream import RowStream

NINTS, NGROUPS, NY, NX = 2, 3, 23, 8


class FakeRamp:
    shape = (NINTS, NGROUPS, NY, NX)
    has_zeroframe = True

    def __init__(self):
        rng = np.random.default_rng(3)
        self.sci = rng.normal(100, 30, self.shape).astype(np.float32)
        self.zf = rng.normal(50, 10, (NINTS, NY, NX)).astype(np.float32)

    def read_into(self, rows, sci, gdq, zf=None):
        sci[...] = self.sci[:, :, rows]
        gdq[...] = 0
        if zf is not None:
            zf[...] = self.zf[:, rows]


class Step:
    skipped = None
    modifies_sci = True
    halo = 0

    def __init__(self, name):
        self.name = name
        self.rows_seen = []

    def row_halo(self):
        return self.halo

    def elementwise(self, rows):
        return None

    def process_zeroframe(self, zf, ints, rows):
        pass


class AddRowIndex(Step):
    """No halo: SCI += exposure row, PIXELDQ |= 1 << (row % 3), ZEROFRAME += 1."""

    def process(self, sci, gdq, pdq, ints, rows):
        self.rows_seen += list(range(rows.start, rows.stop))
        sci += np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
        pdq |= (np.uint32(1) << (np.arange(rows.start, rows.stop) % 3).astype(np.uint32))[:, None]

    def process_zeroframe(self, zf, ints, rows):
        zf += 1


class Smooth(Step):
    """Halo 1, changes SCI: each row becomes the sum of itself and its neighbours (edges truncated)."""

    halo = 1

    def process(self, sci, gdq, pdq, ints, rows):
        src = sci.copy()
        sci[:, :, 1:] += src[:, :, :-1]
        sci[:, :, :-1] += src[:, :, 1:]


class FlagNeighbours(Step):
    """Halo 2, DQ only: GROUPDQ |= 4 within 2 rows of a sample above 200 (SCI untouched);
    ZEROFRAME zeroed next to a large value, as saturation's growth."""

    halo = 2
    modifies_sci = False

    def process(self, sci, gdq, pdq, ints, rows):
        hot = sci > 200
        grown = hot.copy()
        for d in (1, 2):
            grown[:, :, d:] |= hot[:, :, :-d]
            grown[:, :, :-d] |= hot[:, :, d:]
        gdq[grown] |= 4

    def process_zeroframe(self, zf, ints, rows):
        big = zf > 60
        grown = big.copy()
        grown[:, 1:] |= big[:, :-1]
        grown[:, :-1] |= big[:, 1:]
        zf[grown] = 0


def _chain():
    return [AddRowIndex("a"), FlagNeighbours("b"), AddRowIndex("c"), Smooth("d"), AddRowIndex("e"),
            FlagNeighbours("f")]


def _whole(rf):
    sci, gdq = rf.sci.copy(), np.zeros(rf.shape, np.uint8)
    pdq, zf = np.zeros((NY, NX), np.uint32), rf.zf.copy()
    for s in _chain():
        s.process(sci, gdq, pdq, slice(0, NINTS), slice(0, NY))
        s.process_zeroframe(zf, slice(0, NINTS), slice(0, NY))
    return sci, gdq, pdq, zf


@pytest.mark.parametrize("rows_budget", [1, 2, 5, 9, 40])
def test_stream_equals_one_chunk_and_processes_rows_once(rows_budget):
    rf = FakeRamp()
    want = _whole(rf)
    steps = _chain()
    row = NINTS * NGROUPS * NX * 5
    stream = RowStream(rf, steps, np.zeros((NY, NX), np.uint32), chunk_mb=rows_budget * row / 2**20)
    got = [np.zeros_like(w) for w in want]
    finals = {i: [] for i in range(len(steps))}

    def after(i, rows, sci, gdq, pdq, zf):
        finals[i].append((rows.start, rows.stop))

    for rows, (sci, gdq, pdq, zf) in stream.chunks("test", after):
        for g, part in zip(got, (sci, gdq, pdq, zf)):
            if g.ndim == 4:
                g[:, :, rows] = part
            elif g.ndim == 3:
                g[:, rows] = part
            else:
                g[rows] = part
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    for i, s in enumerate(steps):  # each step finalised every row once, in order
        spans = finals[i]
        assert spans[0][0] == 0 and spans[-1][1] == NY
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        if s.halo == 0:  # and a step without a halo processed each row exactly once
            assert s.rows_seen == list(range(NY)), s.name
    # the buffers stay within the budget (at least one new row a chunk)
    if rows_budget >= 9:
        assert stream.nbytes() <= rows_budget * row + NY * NX * 4 * 8


@pytest.mark.parametrize("by,n", [(1, 3), (2, 2), (3, 1), (1, 1)])
def test_window_rows_shift_in_place(by, n):
    """The window moves the rows it keeps to its start (overlapping or not): every field gets
    the old rows [by, by + n), the rows after them are untouched."""
    from rampflow.runner.row_stream import _Rows

    rng = np.random.default_rng(by * 10 + n)
    w = _Rows(3, 2, 5, 4, zf=True)
    for a in (w.sci, w.gdq, w.pdq, w.zf):
        a[...] = rng.integers(0, 200, a.shape)
    before = [a.copy() for a in (w.sci, w.gdq, w.pdq, w.zf)]
    w.shift(by, n)
    for a, b in zip((w.sci, w.gdq, w.pdq, w.zf), before):
        axis = a.ndim - 2
        moved = np.take(b, range(by, by + n), axis=axis)
        np.testing.assert_array_equal(np.take(a, range(n), axis=axis), moved)
        np.testing.assert_array_equal(np.take(a, range(n, 5), axis=axis), np.take(b, range(n, 5), axis=axis))


def test_jump_in_the_stream_reuses_context_rows_without_fingerprints(monkeypatch):
    """jump (halo 1) after a SCI-changing halo step: in the stream its detection results for
    the rows it already detected are reused without hashing their input (the stream gives
    them back unchanged), and the flags equal jump's on all rows at once."""
    from rampflow.kernels import jump as K
    from rampflow.meta import ExposureMeta
    from rampflow.references import Reference
    from rampflow.steps.jump import JumpStep

    rf = FakeRamp()
    rng = np.random.default_rng(8)
    rf.sci = np.cumsum(rng.normal(40.0, 8.0, rf.shape), axis=1).astype(np.float32)
    rf.sci[1, 2:, 7, 3] += 4000.0  # a jump in row 7 (and rows 6-8 after Smooth)
    meta = ExposureMeta.from_headers({"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "NFRAMES": 1, "TGROUP": 1.0,
                                      "TFRAME": 1.0, "NGROUPS": NGROUPS}, {}, filename="test", shape=rf.shape)

    def jump():
        refs = {"readnoise": Reference("readnoise", "hand", {}, {"SCI": np.full((NY, NX), 5.0, np.float32)}),
                "gain": Reference("gain", "hand", {}, {"SCI": np.full((NY, NX), 1.0, np.float32)})}
        return JumpStep(meta, refs, flag_4_neighbors=False)

    sci, gdq, pdq = rf.sci.copy(), np.zeros(rf.shape, np.uint8), np.zeros((NY, NX), np.uint32)
    Smooth("s").process(sci, gdq, pdq, slice(0, NINTS), slice(0, NY))
    jump().process(sci, gdq, pdq, slice(0, NINTS), slice(0, NY))
    assert gdq[1, 2, 6:9, 3].all()

    def no_hash(*args):
        raise AssertionError("fingerprints computed in the row stream")

    monkeypatch.setattr(K, "_row_hash_kernel", no_hash)
    step = jump()
    row = NINTS * NGROUPS * NX * 5
    stream = RowStream(rf, [Smooth("s"), step], np.zeros((NY, NX), np.uint32), chunk_mb=6 * row / 2**20)
    got = np.zeros(rf.shape, np.uint8)
    for rows, (_, g, _, _) in stream.chunks("test"):
        got[:, :, rows] = g
    np.testing.assert_array_equal(got, gdq)
    assert step._cache.reused_rows > 0


class RawRamp(FakeRamp):
    """An uncal file's counts: integers 0 .. 65535 as float32 (``sci_is_uint16``)."""

    sci_is_uint16 = True

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(11)
        self.sci = rng.integers(0, 230, self.shape).astype(np.float32)  # some above FlagNeighbours' 200
        self.sci[1, 2, 9, 5] = 65535.0


@pytest.mark.parametrize("rows_budget", [1, 3, 9])
def test_raw_counts_context_kept_as_uint16(rows_budget):
    """The first halo step (no step before it changes SCI) keeps its context's SCI as
    uint16 when the ramp holds raw counts; later halo steps (after SCI changed) as float32;
    the results are those of one chunk of all rows."""
    rf = RawRamp()
    steps = _chain()[1:]  # FlagNeighbours first: its input is the file's counts
    steps.insert(0, Step("noop"))
    steps[0].process = lambda *a: None
    steps[0].modifies_sci = False
    row = NINTS * NGROUPS * NX * 5
    stream = RowStream(rf, steps, np.zeros((NY, NX), np.uint32), chunk_mb=rows_budget * row / 2**20)
    assert stream.ctx[1].sci.dtype == np.uint16 and stream.ctx[3].sci.dtype == np.float32
    got = np.zeros(rf.shape, np.float32), np.zeros(rf.shape, np.uint8)
    for rows, (sci, gdq, _, _) in stream.chunks("test"):
        got[0][:, :, rows] = sci
        got[1][:, :, rows] = gdq
    # the chain without its first step (AddRowIndex "a"): compare with that on all rows at once
    sci, gdq = rf.sci.copy(), np.zeros(rf.shape, np.uint8)
    pdq = np.zeros((NY, NX), np.uint32)
    for s in _chain()[1:]:
        s.process(sci, gdq, pdq, slice(0, NINTS), slice(0, NY))
    np.testing.assert_array_equal(got[0], sci)
    np.testing.assert_array_equal(got[1], gdq)
    assert 0 < (gdq != 0).mean() < 1


def test_context_copies_between_window_rows_cast_like_numpy():
    """The stream's copies of rows (the parallel kernel on the arrays the rows belong to):
    float32 raw counts into a uint16 context and back, GROUPDQ, PIXELDQ, into and out of rows
    of a larger window, equal numpy's unsafe-cast copies and leave other rows alone; rows of
    different shapes are refused."""
    from rampflow.runner.row_stream import _copy, _Rows

    rng = np.random.default_rng(4)
    win = _Rows(3, 4, 6, 11)
    win.sci[...] = rng.integers(0, 65536, win.sci.shape).astype(np.float32)
    win.gdq[...] = rng.integers(0, 256, win.gdq.shape)
    win.pdq[...] = rng.integers(0, 2**31, win.pdq.shape)
    ctx = _Rows(3, 4, 2, 11, sci_dtype=np.uint16)
    ctx.sci[...] = 7
    before = [a.copy() for a in (win.sci, win.gdq, win.pdq)]
    _copy(ctx.view(0, 2), win.view(3, 5))
    np.testing.assert_array_equal(ctx.sci, before[0][:, :, 3:5].astype(np.uint16))
    np.testing.assert_array_equal(ctx.gdq, before[1][:, :, 3:5])
    np.testing.assert_array_equal(ctx.pdq, before[2][3:5])
    _copy(win.view(0, 2), ctx.view(0, 2))  # back, into other rows
    np.testing.assert_array_equal(win.sci[:, :, 0:2], before[0][:, :, 3:5])
    np.testing.assert_array_equal(win.gdq[:, :, 0:2], before[1][:, :, 3:5])
    np.testing.assert_array_equal(win.sci[:, :, 2:], before[0][:, :, 2:])
    np.testing.assert_array_equal(win.gdq[:, :, 2:], before[1][:, :, 2:])
    with pytest.raises(ValueError, match="copied into"):
        _copy(win.view(0, 2), ctx.view(0, 1))


def _saturation(n_pix_grow_sat, ngroups=NGROUPS):
    """The real saturation step on this module's small exposure: thresholds of 250-450 DN, a
    superbias (its second-group check runs too)."""
    from rampflow.meta import ExposureMeta
    from rampflow.references import Reference
    from rampflow.steps.saturation import Saturation

    head = {"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_BRIGHTOBJ", "SUBSTRT1": 1, "SUBSTRT2": 1,
            "NFRAMES": 1, "READPATT": "NRSRAPID", "NGROUPS": ngroups, "TFRAME": 10.7, "TGROUP": 10.7}
    meta = ExposureMeta.from_headers(head, {}, filename="test", shape=(NINTS, ngroups, NY, NX))
    rng = np.random.default_rng(9)
    refs = {"saturation": Reference(reftype="saturation", path="hand", header={},
                                    arrays={"SCI": rng.uniform(250, 450, (NY, NX)).astype(np.float32)}),
            "superbias": Reference(reftype="superbias", path="hand", header={},
                                   arrays={"SCI": rng.uniform(0, 20, (NY, NX)).astype(np.float32)})}
    return Saturation(meta, refs, n_pix_grow_sat=n_pix_grow_sat, use_readpatt=True)


class RampingRamp(FakeRamp):
    """Ramps of 60-160 DN a group from ~50 DN: some pixels pass their threshold in each group."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(4)
        slope = rng.uniform(60, 160, (NY, NX)).astype(np.float32)
        g = np.arange(NGROUPS, dtype=np.float32)[:, None, None]
        self.sci = (50 + slope * g + rng.normal(0, 5, self.shape)).astype(np.float32)


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("rows_budget", [1, 2, 5, 40])
def test_saturation_keeps_its_rows_above_and_equals_one_chunk(n, rows_budget):
    """Saturation in the stream keeps the SATURATED bits of the rows above each chunk itself
    (Step.keep_rows_above): it gets no context rows (nothing is swapped for it) and each row's
    first pass runs once as a pending row and once when finalised; with a later halo step
    and SCI-changing steps after it, every product equals that of one chunk of all rows
    (saturation on the whole exposure at once), for growths of 1 and 2 rows."""
    rf = RampingRamp()

    def chain():
        return [_saturation(n), AddRowIndex("a"), FlagNeighbours("b"), Smooth("c")]

    sci, gdq = rf.sci.copy(), np.zeros(rf.shape, np.uint8)
    pdq = np.zeros((NY, NX), np.uint32)
    for s in chain():
        s.process(sci, gdq, pdq, slice(0, NINTS), slice(0, NY))
    sat = (gdq & 2) != 0
    assert 0.1 < sat.mean() < 0.9 and sat[:, -1].all(axis=0).any()
    steps = chain()
    row = NINTS * NGROUPS * NX * 5
    stream = RowStream(rf, steps, np.zeros((NY, NX), np.uint32), chunk_mb=rows_budget * row / 2**20)
    assert stream.own_above[0] and stream.ctx[0] is None and stream.tmp[0] is None
    assert not stream.own_above[2] and stream.ctx[2] is not None
    got = np.zeros(rf.shape, np.float32), np.zeros(rf.shape, np.uint8), np.zeros((NY, NX), np.uint32)
    calls = []
    orig = steps[0].process
    steps[0].process = lambda s_, g_, p_, i_, r_: (calls.append((r_.start, r_.stop)), orig(s_, g_, p_, i_, r_))
    for rows, (s_, g_, p_, _) in stream.chunks("test"):
        got[0][:, :, rows] = s_
        got[1][:, :, rows] = g_
        got[2][rows] = p_
    np.testing.assert_array_equal(got[0], sci)
    np.testing.assert_array_equal(got[1], gdq)
    np.testing.assert_array_equal(got[2], pdq)
    # chunks in order, each starting where the last one's finalised rows ended (no context rows)
    assert calls[0][0] == 0 and calls[-1][1] == NY
    if rows_budget < 40:
        assert len(calls) > 2
    # out of order: a clear error, not wrong flags
    s0 = chain()[0]
    s0.keep_rows_above()
    a = np.ones((NINTS, NGROUPS, 3, NX), np.float32)
    s0.process(a, np.zeros(a.shape, np.uint8), np.zeros((3, NX), np.uint32), slice(0, NINTS), slice(0, 3))
    with pytest.raises(RuntimeError, match="must come in order"):
        s0.process(a, np.zeros(a.shape, np.uint8), np.zeros((3, NX), np.uint32), slice(0, NINTS), slice(5, 8))


def test_saturation_with_averaged_frames_keeps_the_stream_context():
    """With frames averaged into groups (the backward pass grows DO_NOT_USE from other rows
    too) saturation does not keep rows above itself: the stream swaps its context."""
    s = _saturation(1)
    s.read_pattern = [[1, 2], [3, 4], [5, 6]]
    assert not s.keep_rows_above()
