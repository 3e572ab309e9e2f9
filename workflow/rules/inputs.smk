# Where the uncal files and the reference-file cache come from.

if SOURCE == "simulate":

    rule simulate:
        output:
            uncal=expand(f"{OUT}/uncal/{{stem}}_uncal.fits", stem=exposure_stems()),
            ready=f"{OUT}/crds/.ready",
        params:
            sim=config["inputs"]["simulate"],
            crds_path=lambda wc, output: str(Path(output.ready).parent),
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/simulate.log",
        script:
            "../scripts/simulate.py"

if SOURCE == "mast":

    localrules:
        mast_download,

    checkpoint mast_download:
        """Query MAST with astroquery and download the program's uncal files (on the submit host)."""
        output:
            manifest=f"{OUT}/uncal/manifest.json",
        params:
            mast=config["inputs"]["mast"],
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/mast_download.log",
        script:
            "../scripts/mast_download.py"


if SOURCE != "simulate":

    localrules:
        references,

    rule references:
        """Resolve every reference file once (CRDS fetches into its cache) before steps run."""
        input:
            uncal=lambda wc: [uncal_path(s) for s in exposure_stems()],
        output:
            ready=f"{OUT}/crds/.ready",
        params:
            steps=STEPS,
            overrides=config["references"]["overrides"],
            context=config["references"]["crds_context"],
            env=CRDS_ENV,
        conda:
            CONDA_ENV
        log:
            f"{OUT}/logs/references.log",
        script:
            "../scripts/prefetch_references.py"
