"""Per-step diagnostic plots (PNG, matplotlib Agg) and tables for JWST ramp products.

Every function takes file paths, reads the ramps chunk by chunk through :mod:`rampflow.io`
(memory stays bounded: chunks of integrations of about ``chunk_mb`` MB, and only the groups
needed), samples pixels for density plots, and writes a PNG of a fixed pixel size
(``figsize`` x :data:`rampflow.plotting.DPI`) atomically. Axes carry labels with units.
One module per diagnostic:

* :mod:`.linearity` -- :func:`plot_linearity_ratio`: last-pair / first-pair group difference vs
  signal, before and after the linearity step (a linear ramp has ratio 1);
* :mod:`.tally` -- :func:`dq_tally`: PIXELDQ counts per mnemonic and GROUPDQ flags added per
  step (CSV + bars);
* :mod:`.saturation` -- :func:`plot_saturation`: saturated fraction per integration and an
  example ramp;
* :mod:`.jumps` -- :func:`plot_jump_counts`, :func:`plot_jump_ramps`: jumps per integration,
  example ramps;
* :mod:`.destripe` -- :func:`plot_destripe`: group-difference images before / after 1/f
  destriping, line medians;
* :mod:`.refpix` -- :func:`plot_refpix`: odd / even column means of the reference pixels before /
  after refpix;
* :mod:`.ta` -- :func:`plot_ta_quicklook`: last group of target-acquisition exposures, frame
  centre marked.

Which diagnostics a workflow builds is planned in :mod:`rampflow.wiring`.
"""

from ...plotting import DPI
from .common import DEFAULT_CHUNK_MB
from .destripe import plot_destripe
from .jumps import jump_counts, plot_jump_counts, plot_jump_ramps
from .linearity import linearity_ratio_sample, plot_linearity_ratio
from .refpix import plot_refpix, refpix_means
from .saturation import plot_saturation
from .ta import TA_EXP_TYPE, is_target_acquisition, plot_ta_quicklook
from .tally import dq_tally

__all__ = [
    "DPI", "DEFAULT_CHUNK_MB", "TA_EXP_TYPE",
    "linearity_ratio_sample", "plot_linearity_ratio", "dq_tally", "plot_saturation",
    "jump_counts", "plot_jump_counts", "plot_jump_ramps", "plot_destripe", "refpix_means", "plot_refpix",
    "is_target_acquisition", "plot_ta_quicklook",
]
