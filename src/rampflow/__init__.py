"""rampflow: fast, lean JWST Stage 1 (ramps to slopes) as a reproducible Snakemake workflow."""

__version__ = "0.1.0"
