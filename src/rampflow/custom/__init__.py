"""Custom steps rampflow adds to calwebb_detector1 for time-series observers.

* :mod:`rampflow.custom.saturation_thresholds` -- a modified SATURATION reference file
  (scaled thresholds, a fixed level, or a user map) that the saturation step then uses;
* :mod:`rampflow.custom.destripe` -- the ``destripe`` ramp step: group-level 1/f
  destriping along the detector's fast-read lines with a trace / source mask.

What they add to the workflow's jobs (extra inputs, parameters, reference overrides) is planned
by :mod:`rampflow.wiring`.
"""
