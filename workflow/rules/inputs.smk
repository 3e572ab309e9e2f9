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

    # downloads run on the submit host (localrules), at most mast_connections at once
    # (inputs.mast.connections unless --resources mast_connections=N is given)
    if workflow.global_resources.get("mast_connections").value is None:
        workflow.global_resources["mast_connections"] = int(config["inputs"]["mast"]["connections"])

    localrules:
        mast_query,
        mast_download,

    checkpoint mast_query:
        """Query MAST with astroquery and write the manifest of the program's uncal files
        (name, dataURI, size and checksum as MAST reports them); nothing is downloaded."""
        output:
            manifest=MAST_MANIFEST,
        log:
            f"{OUT}/logs/mast_query.log",
        conda:
            CONDA_ENV
        params:
            mast=config["inputs"]["mast"],
        script:
            "../scripts/mast_query.py"

    rule mast_download:
        """One uncal file of the manifest: resumed from its .part file, retried, verified
        (size, checksum where MAST reports one), then moved onto its name. The manifest is
        ancient() and the only parameter is the file's entry (URI, size, checksum; the
        download options are read from the config), so querying MAST again, or changing
        retries or connections, re-downloads a file only when its entry changed."""
        input:
            manifest=ancient(MAST_MANIFEST),
        output:
            uncal=wiring.uncal_path(config),
        log:
            f"{OUT}/logs/mast_download_{{stem}}.log",
        wildcard_constraints:
            stem="[^/]+",
        conda:
            CONDA_ENV
        resources:
            mast_connections=1,
        params:
            entry=lambda wc, input: manifest_file(input.manifest, wc.stem),
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
