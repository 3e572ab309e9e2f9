"""Reading an uncal file's rows one chunk ahead on a reader thread (io.RowReadAhead): the
chunks equal those read one by one; an error of the reader thread reaches the caller naming
the file, and a one-pass job it ends leaves no product."""

import os
import threading

import numpy as np
import pytest

from rampflow import io, runner


def _extremes_and_random(shape, seed=5):
    """uint16 counts with the extremes of the signed storage (0, 32767, 32768, 65535) in it."""
    data = np.random.default_rng(seed).integers(0, 65536, size=shape, dtype=np.uint16)
    flat = data.reshape(-1)
    flat[:8] = [0, 1, 32767, 32768, 32769, 65534, 65535, 0]
    return data


def test_rows_read_ahead_equal_serial_reads(tmp_path):
    from tests.conftest import make_uncal

    shape = (5, 3, 9, 6)
    data = _extremes_and_random(shape)
    path = tmp_path / "jw01366003001_04101_00001-seg001_nrs1_uncal.fits"
    make_uncal(path, data)
    chunks = [slice(0, 3), slice(3, 4), slice(4, 8), slice(8, 9)]
    with io.open_ramp(path) as rf:
        assert rf.reads_rows_ahead
        with io.RowReadAhead(rf, chunks) as ahead:
            assert ahead.nbytes == 5 * 3 * 4 * 6 * 2  # the largest chunk's 16-bit values
            for k, rows in enumerate(chunks):
                n = rows.stop - rows.start
                win = np.full((5, 3, n + 3, 6), -1.0, np.float32)  # into rows 2.. of a larger window
                gdq = np.ones((5, 3, n, 6), np.uint8)
                ahead.into(k, win[:, :, 2:2 + n], gdq)
                serial, sgdq = np.empty((5, 3, n, 6), np.float32), np.empty((5, 3, n, 6), np.uint8)
                rf.read_into(rows, serial, sgdq)
                np.testing.assert_array_equal(win[:, :, 2:2 + n], serial)
                np.testing.assert_array_equal(serial, data[:, :, rows].astype(np.float32))
                assert (win[:, :, :2] == -1).all() and (win[:, :, 2 + n:] == -1).all()
                assert not gdq.any() and not sgdq.any()
        with io.RowReadAhead(rf, chunks) as ahead:  # chunk 1 is read ahead: chunk 2 now is refused
            ahead.into(0, np.empty((5, 3, 3, 6), np.float32), np.empty((5, 3, 3, 6), np.uint8))
            with pytest.raises(ValueError, match="read ahead for chunk 1, asked for chunk 2"):
                ahead.into(2, np.empty((5, 3, 4, 6), np.float32), np.empty((5, 3, 4, 6), np.uint8))


def test_short_file_read_raw_names_the_file(tmp_path):
    """The reader's system calls stop at the end of the file: ProductError with its name."""
    path = tmp_path / "short.bin"
    path.write_bytes(bytes(2200))  # the last plane (bytes 2000-2400) cut short
    cube = io.DiskCube(str(path), 0, ">i2", (2, 3, 10, 20))  # 2400 bytes
    fd = os.open(path, os.O_RDONLY)
    try:
        out = np.empty((2, 3, 2, 40), np.uint8)
        cube.read_rows_raw(fd, slice(None), slice(0, 2), out)  # the first planes are there
        # its rows 8-9 start at byte 2320, past the end
        with pytest.raises(io.ProductError, match="short.bin.*file ends at byte 2320"):
            cube.read_rows_raw(fd, slice(None), slice(8, 10), out)
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from rampflow.simulate import simulate_exposure

    return simulate_exposure(tmp_path_factory.mktemp("ahead"), kind="nirspec_tso", detector="NRS1", nints=4,
                             ngroups=5, size=[16, 128], seed=6)


def test_reader_thread_error_names_the_file_and_leaves_no_product(sim, tmp_path, monkeypatch):
    """The uncal file's data end early for the reader thread (its second chunk read through a
    cube placed at the end of the file): the one-pass job raises ProductError naming the file,
    raised in the reader thread, and writes no product."""
    raw_rows = io.RampFile.read_raw_rows
    threads = []

    def end_early(self, rows, out8):
        if rows.start == 0:
            return raw_rows(self, rows, out8)
        threads.append(threading.current_thread())
        d = self._sci_disk
        io.DiskCube(self.path, os.path.getsize(self.path) - 100, d.disk, d.shape).read_rows_raw(
            self._fd, slice(None), rows, out8)

    monkeypatch.setattr(io.RampFile, "read_raw_rows", end_early)
    refs = {k: str(v) for k, v in sim.refs.items()}
    chain = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump",
             "ramp_fit"]
    out = tmp_path / "out"
    with pytest.raises(io.ProductError, match=os.path.basename(str(sim.uncal)) + ".*file ends"):
        runner.run(chain, {"ramp": sim.uncal}, {k: out / f"{k}.fits" for k in ("rate", "rateints")},
                   overrides=refs, chunk_mb=0.05)
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert not out.exists() or list(out.iterdir()) == []
