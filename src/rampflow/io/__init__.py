"""All FITS reading and writing in rampflow (this package is the only code touching FITS).

* ``open_ramp(path)`` (:mod:`.ramp`) reads a genuine ``*_uncal.fits`` (uint16 SCI, INT_TIMES /
  GROUP tables, ASDF extension) or one of our ramp intermediates (float32 SCI, PIXELDQ,
  GROUPDQ) and hands out chunks of integrations / rows as native arrays, read with one system
  call per contiguous slab (:class:`DiskCube`, :mod:`.blocks`) into buffers reused from chunk
  to chunk; ``RowReadAhead`` (:mod:`.row_ahead`) reads an uncal file's row chunks one
  ahead on a reader thread.
* ``RampWriter`` (:mod:`.writer`) writes a ramp product incrementally: the file layout
  (headers, sized data sections) is laid down first in a temporary file next to the target,
  chunks are written into its data sections, and the file is synced and renamed into place
  only when everything was written. An exception leaves nothing behind (``atomic_path``);
  a job killed outright leaves its ``.<name>.XXXXXXXX.part`` temporary, which the next write
  of the same product removes first (``remove_temporaries``; ``scratch_dir`` likewise for a
  job's scratch folder).
* ``write_image_product`` (:mod:`.products`) writes rate / rateints / fitopt products
  (2-D / 3-D, small) atomically; ``read_reference_hdus`` reads CRDS-format reference files.
* :mod:`.headers` carries headers forward and makes the ASDF extension; :mod:`.fitsfile`
  opens files (checked for truncation) and applies BZERO / BSCALE.
* ``custom`` holds the readers and writers of the custom steps and diagnostics, ``simfiles``
  the writers for simulated exposures, reference files and truth.

Products carry the input's headers forward, record what ran (``S_<STEP>``), the
reference files (``R_<TYPE>``), the CRDS context (``CRDS_CTX``) and step parameters
(HISTORY cards), and set ``DATAMODL`` so ``stdatamodels.jwst.datamodels.open`` returns
the right model (RampModel, ImageModel, CubeModel, RampFitOutputModel).

This module only re-exports the public API of its submodules.
"""

from __future__ import annotations

from .blocks import DiskCube, set_io_threads
from .fitsfile import BLOCK, ProductError, _open_fits, _scaled  # noqa: F401 (privates io.custom imports)
from .headers import asdf_hdu
from .products import (
    describe,
    read_first_image,
    read_image_product,
    read_reference_hdus,
    write_image_product,
)
from .ramp import RampFile, open_ramp
from .row_ahead import RowReadAhead
from .writer import RampWriter, atomic_path, remove_temporaries, scratch_dir, temporaries

__all__ = [
    "BLOCK",
    "DiskCube",
    "ProductError",
    "RampFile",
    "RampWriter",
    "RowReadAhead",
    "asdf_hdu",
    "atomic_path",
    "describe",
    "open_ramp",
    "read_first_image",
    "read_image_product",
    "read_reference_hdus",
    "remove_temporaries",
    "scratch_dir",
    "set_io_threads",
    "temporaries",
    "write_image_product",
]
