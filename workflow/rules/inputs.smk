# Where the uncal files and the reference-file cache come from.

if SOURCE == "simulate":

    rule simulate:
        output:
            uncal=expand(wiring.uncal_path(config), stem=exposure_stems()),
            ready=wiring.references_ready(config),
        log:
            f"{OUT}/logs/simulate.log",
        conda:
            CONDA_ENV
        params:
            sim=config["inputs"]["simulate"],
            crds_path=lambda wc, output: str(Path(output.ready).parent),
            steps=config["steps"],
            overrides=config["references"]["overrides"],
            context=config["references"]["crds_context"],
            env=CRDS_ENV,
        script:
            "../scripts/simulate.py"


if SOURCE == "mast":

    localrules:
        mast_download,

    checkpoint mast_download:
        """Query MAST with astroquery and download the program's uncal files (on the submit host)."""
        output:
            manifest=f"{OUT}/uncal/manifest.json",
        log:
            f"{OUT}/logs/mast_download.log",
        conda:
            CONDA_ENV
        params:
            mast=config["inputs"]["mast"],
        script:
            "../scripts/mast_download.py"


if SOURCE != "simulate":

    localrules:
        references,

    rule references:
        """Resolve every reference file once (CRDS fetches into its cache) before steps run."""
        input:
            uncal=all_uncal,
        output:
            ready=wiring.references_ready(config),
        log:
            f"{OUT}/logs/references.log",
        conda:
            CONDA_ENV
        params:
            steps=config["steps"],
            overrides=config["references"]["overrides"],
            context=config["references"]["crds_context"],
            env=CRDS_ENV,
        script:
            "../scripts/prefetch_references.py"
