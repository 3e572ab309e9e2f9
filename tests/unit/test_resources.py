"""rampflow.wiring.resources: the memory a job asks a scheduler for follows the chunk budget,
not the size of the exposure."""

from __future__ import annotations

import errno
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from snakemake.utils import validate

from rampflow import config as rfconfig
from rampflow import io, runner
from rampflow.wiring import job_mem_mb, jobs, mem_mb
from rampflow.wiring import resources as R

TSO = (155, 70, 32, 2048)  # a real NIRSpec BOTS segment: nints, ngroups, ny, nx
MB = 2**20


def test_integration_step_on_a_tso_segment_by_hand():
    """superbias on the TSO segment, chunk_mb 256: one integration is 70*32*2048*5 =
    22,937,600 B, 11 of them fit in 256 MB (252,313,600 B); one step's whole-frame arrays are
    32*2048*24 = 1,572,864 B. 750 + (3 * 252,313,600 + 1,572,864) / 2**20 = 1473.375 -> 1474."""
    assert R.OVERHEAD_MB == 750 and R.CHUNK_FACTOR == 3.0 and R.FRAME_BYTES_PER_STEP == 24
    assert R.chunk_bytes(TSO, "integrations", 256) == 252_313_600
    assert job_mem_mb(["superbias"], TSO, 256) == 1474


def test_ramp_fit_on_a_tso_segment_by_hand():
    """ramp_fit reads rows of every integration: a row is 155*70*2048*5 = 111,104,000 B, two fit
    in 256 MB (222,208,000 B); it holds rateints, 155*32*2048*40 = 406,323,200 B.
    750 + (3 * 222,208,000 + 1,572,864 + 406,323,200) / 2**20 = 1774.74 -> 1775."""
    assert R.chunk_bytes(TSO, "rows", 256) == 222_208_000
    assert job_mem_mb(["ramp_fit"], TSO, 256) == 1775


def test_memory_follows_the_chunk_budget_not_the_exposure():
    longer = (10 * TSO[0],) + TSO[1:]
    # integration passes: ten times the integrations, the same chunks, the same memory
    for steps in (["group_scale", "dq_init", "saturation"], ["superbias"], ["dark_current"]):
        assert job_mem_mb(steps, longer, 256) == job_mem_mb(steps, TSO, 256), steps
    # the longer ramp is 16 GB as float32 + uint8: far more than asked for
    assert job_mem_mb(["superbias"], longer, 256) < 1500
    # a bigger budget, more memory: 3 x (46 - 11) integrations of 22,937,600 B more
    assert job_mem_mb(["superbias"], TSO, 1024) - job_mem_mb(["superbias"], TSO, 256) == pytest.approx(
        3 * 35 * 22_937_600 / MB, abs=1)
    # row passes (jump, ramp_fit) hold every integration of their rows: a row of the longer
    # ramp is 1.1 GB, so its chunk is the minimum, one row plus jump's halo row each side
    assert R.chunk_bytes(longer, "rows", 256, halo=1) == 3 * 1550 * 70 * 2048 * 5
    # plus jump's snowball / shower pre-pass: a bit per group and pixel (JUMP) and at most as
    # much for the SATURATED bits, the shower statistics and one integration's work arrays
    prepass = 2 * 1550 * 70 * 32 * 2048 // 8 + 2 * 69 * 32 * 2048 * 4 + 8 * 70 * 32 * 2048 * 4
    assert R.prepass_bytes(longer) == prepass
    # the row stream (runner.row_stream): a window of one new row and two waiting ones (SCI,
    # GROUPDQ, PIXELDQ), and jump's context and pending rows (GROUPDQ and PIXELDQ only: jump
    # leaves SCI alone)
    row, small = 1550 * 70 * 2048 * 5 + 2048 * 4, 1550 * 70 * 2048 + 2048 * 4
    assert job_mem_mb(["jump"], longer, 256) == pytest.approx(
        750 + (3 * 3 * row + 2 * small + 32 * 2048 * 24 + prepass) / MB, abs=1)


def test_chunk_never_below_one_integration_or_one_row():
    huge = (2, 100, 2048, 2048)  # one integration is 2,097,152,000 B, far above a 64 MB budget
    assert R.chunk_bytes(huge, "integrations", 64) == 100 * 2048 * 2048 * 5
    assert job_mem_mb(["superbias"], huge, 64) > 3 * 2000
    # rows: one row of every integration, plus a halo row each side
    assert R.chunk_bytes(TSO, "rows", 1, halo=1) == 3 * 155 * 70 * 2048 * 5


def test_dark_current_adds_its_per_group_frames():
    shape = (4, 10, 2048, 2048)
    extra = job_mem_mb(["dark_current"], shape, 256) - job_mem_mb(["superbias"], shape, 256)
    assert extra == pytest.approx(10 * 2048 * 2048 * 4 / MB, abs=1)


def test_retries_ask_for_more():
    first = job_mem_mb(["jump"], TSO, 256)
    assert job_mem_mb(["jump"], TSO, 256, attempt=2) == pytest.approx(1.5 * first, abs=1)
    assert job_mem_mb(["jump"], TSO, 256, attempt=3) == pytest.approx(2.0 * first, abs=1)


def test_bad_shape_is_named():
    with pytest.raises(ValueError, match=r"\(0, 5, 4, 4\)"):
        job_mem_mb(["jump"], (0, 5, 4, 4), 256)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from rampflow.simulate import simulate_exposure

    return simulate_exposure(tmp_path_factory.mktemp("res"), kind="nirspec_tso", detector="NRS1", nints=6,
                             ngroups=5, size=[16, 128], seed=2)


def test_row_stream_reads_what_the_estimate_assumes(sim, tmp_path, monkeypatch):
    """A row pass reads as many new rows a chunk (recorded from RampFile.read_into) as
    stream_size, the estimate's sizing of the row stream, says."""
    from rampflow.runner.row_stream import stream_size

    refs = {k: str(v) for k, v in sim.refs.items()}
    ramp = str(tmp_path / "dq_init.fits")  # jump reads a ramp product
    runner.run(["group_scale", "dq_init"], {"ramp": sim.uncal}, {"dq_init": ramp}, overrides=refs)
    seen = []
    read_into = io.RampFile.read_into

    def spy(self, rows, sci, *a, **k):
        seen.append(sci.shape[2])
        return read_into(self, rows, sci, *a, **k)

    monkeypatch.setattr(io.RampFile, "read_into", spy)
    runner.run(["jump"], {"ramp": ramp}, {"jump": str(tmp_path / "out.fits")}, overrides=refs, chunk_mb=0.05)
    nnew, _, _ = stream_size(R.ramp_shape(ramp), [1], [False], 0.05)
    assert len(seen) > 1 and max(seen) == nnew


@pytest.mark.parametrize("steps,mode,chunk_mb", [(["group_scale", "dq_init"], "integrations", 0.02)])
def test_chunk_bytes_is_what_the_runner_reads(sim, tmp_path, monkeypatch, steps, mode, chunk_mb):
    """The largest chunk the runner reads (recorded from RampFile.read) is chunk_bytes."""
    refs = {k: str(v) for k, v in sim.refs.items()}
    ramp = str(sim.uncal)
    seen = []
    read = io.RampFile.read

    def spy(self, *a, **k):
        sci, gdq = read(self, *a, **k)
        seen.append(sci.size * 5)
        return sci, gdq

    monkeypatch.setattr(io.RampFile, "read", spy)
    runner.run(steps, {"ramp": ramp}, {steps[-1]: str(tmp_path / "out.fits")}, overrides=refs, chunk_mb=chunk_mb)
    shape = R.ramp_shape(ramp)
    assert len(seen) > 1  # chunked
    assert max(seen) == R.chunk_bytes(shape, mode, chunk_mb)


def test_resource_function_reads_the_input_ramp(sim, tmp_path):
    cfg = {"compute": {"chunk_mb": 64}}
    job = SimpleNamespace(kind="steps", steps=("group_scale", "dq_init"))
    fn = mem_mb(job, cfg)
    inp = SimpleNamespace(ramp=str(sim.uncal), keys=lambda: ["ramp", "refs"])
    assert fn(None, inp, 1) == job_mem_mb(["group_scale", "dq_init"], (6, 5, 16, 128), 64)
    assert fn(None, inp, 2) > fn(None, inp, 1)
    # not made yet: FileNotFoundError naming the file (Snakemake evaluates again later)
    missing = SimpleNamespace(ramp=str(tmp_path / "x_uncal.fits"), keys=lambda: ["ramp"])
    with pytest.raises(FileNotFoundError) as exc:
        fn(None, missing, 1)
    assert exc.value.errno == errno.ENOENT and exc.value.filename == missing.ramp


def test_resource_function_does_not_raise_for_an_unreadable_ramp(sim, tmp_path):
    """A truncated uncal must fail its own job (which names it), not the resource function:
    Snakemake would stop scheduling every other exposure, even under --keep-going."""
    cut = tmp_path / "cut_uncal.fits"
    data = Path(sim.uncal).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ProductError, match="truncated"):
        R.ramp_shape(cut)
    fn = mem_mb(SimpleNamespace(kind="steps", steps=("group_scale", "dq_init")), {"compute": {"chunk_mb": 64}})
    inp = SimpleNamespace(ramp=str(cut), keys=lambda: ["ramp"])
    # the overhead plus twice the file's size
    assert fn(None, inp, 1) == int(np.ceil(R.OVERHEAD_MB + 2 * cut.stat().st_size / R.MB))
    cut.write_bytes(b"not a FITS file at all" * 10)
    assert fn(None, inp, 1) == int(np.ceil(R.OVERHEAD_MB + 2 * cut.stat().st_size / R.MB))


@pytest.mark.parametrize("fuse", [False, True])
def test_every_step_job_of_the_demo_plans_its_memory(fuse):
    """Each step job of the demo (one per step, or fused) gets an estimate at least the
    process overhead plus its chunk, fused jobs no more than their steps' largest + frames."""
    root = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())
    cfg.setdefault("compute", {})["fuse"] = fuse
    rfconfig.prepare(cfg)
    validate(cfg, str(root / "workflow" / "schemas" / "config.schema.yaml"))
    step_jobs = jobs(cfg, "steps")
    assert step_jobs
    for job in step_jobs:
        est = job_mem_mb(job.steps, TSO, cfg["compute"]["chunk_mb"])
        assert est >= R.OVERHEAD_MB + R.CHUNK_FACTOR * 200, (job.name, est)
        # an upper bound for a sane request: the one-pass job's window (x CHUNK_FACTOR), the
        # row stream's context rows, the snowball pre-pass's bits (packed SATURATED counted in
        # full) and the rate products stay under 4.5 GB on a full segment
        assert est < 4500, (job.name, est)


def test_clean_flicker_noise_counts_its_draft_rate():
    """clean_flicker_noise holds the draft rate's products (as ramp_fit does) and reads the ramp
    in row chunks for it: its job needs more than the same job without it, by about the rate
    products."""
    from rampflow.wiring.resources import MB, RATEINTS_BYTES, job_mem_mb

    shape = (155, 70, 32, 2048)
    rate_mb = 155 * 32 * 2048 * RATEINTS_BYTES / MB  # 388 MB
    alone = job_mem_mb(["persistence"], shape, 256)  # an integration-chunk step of the same size
    assert job_mem_mb(["clean_flicker_noise"], shape, 256) - alone >= rate_mb - 1
