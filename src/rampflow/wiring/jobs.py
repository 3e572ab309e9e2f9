"""The jobs of one exposure: step jobs (fused or not), custom-step jobs, and the paths they use.

* the ramp steps, fused groups (``compute.fuse``), products kept (``compute.keep``) and
  which steps run inside the ramp_fit job: jump, or with :func:`one_pass` the whole chain
  from the uncal file (:func:`fused_groups`, :func:`kept_products`, :func:`produced_ramps`,
  :func:`jump_in_ramp_fit`, :func:`in_ramp_fit_job`);
* the JOBS of one exposure: name, steps, input files, output products, each
  step's parameters, reference overrides, log and benchmark paths, as path patterns with
  ``{stem}`` (:meth:`Job.for_stem` fills them for one exposure). Kinds: ``steps`` (run by
  ``workflow/scripts/run_steps.py`` through :func:`rampflow.runner.run`), ``saturation_reference``
  (custom saturation thresholds), ``step_input`` (a file a step reads besides its ramp, e.g.
  destripe's background mask), ``diagnostic`` (QA plots);
* :func:`final_products`: the last step's products of every exposure.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import config as rfconfig
from .. import names
from ..custom.saturation_thresholds import threshold_options
from ..steps import get_step_class
from .families import stem_config, stem_regex

#: the QA page's sections, in page order: id -> title (``report()`` categories too)
SECTIONS = {
    "exposures": "Exposures",
    "lightcurves": "Light curves",
    "onef": "1/f noise: before / after",
    "saturation": "Saturation",
    "jumps": "Jumps",
    "dq": "DQ flags",
    "linearity": "Linearity",
    "refpix": "Reference pixels",
    "ta": "Target acquisition",
}
#: folder of the report captions, relative to the repository
CAPTIONS = "workflow/report"


@dataclass(frozen=True)
class Output:
    """One file a job writes that the QA page (and ``snakemake --report``) shows."""

    key: str              # the rule's output name
    name: str             # file name after ``{stem}_`` / ``{detector}_`` (or the whole name)
    section: str          # QA page section id (:data:`SECTIONS`)
    kind: str             # plot | table | lightcurve | json | product
    caption: str          # caption .rst, relative to the repository
    report: bool = True   # wrapped in report() for ``snakemake --report``
    label: str | None = None  # the figure label of a light-curve file


@dataclass(frozen=True)
class Job:
    """One rule of the workflow, as path patterns with ``{stem}`` (per exposure).

    inputs    : name -> path (or list of paths) the job's script reads
    needs     : name -> path of files that must exist first but that the script does not
                read itself (the reference-file marker, a custom reference file)
    outputs   : product suffix (or output name) -> path
    params    : step -> that step's parameters (kind ``steps``, ``step_input``)
    settings  : the script's other parameters (``context``, ``chunk_mb``, ``options``, ...)
    overrides : reference type -> file (the config's, plus per-exposure custom ones)
    crds      : the script resolves reference files (gets the CRDS environment)
    all_uncal : the job reads the uncal files of every exposure (added by the rule file)
    files     : output name -> :class:`Output` for the outputs the QA page shows (wrapped in
                report() when :attr:`Output.report`)
    """

    kind: str
    name: str
    script: str
    steps: tuple = ()
    inputs: dict = field(default_factory=dict)
    needs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)
    log: str = ""
    benchmark: str | None = None
    threads: int = 1
    crds: bool = False
    all_uncal: bool = False
    subcategory: str = "{stem}"
    files: dict = field(default_factory=dict)
    #: inputs from the previous exposure of the same detector: input name -> product suffix
    #: (resolved per exposure by :func:`carried_path`)
    carried: dict = field(default_factory=dict)
    #: the instrument family ("MIRI", "NIR") whose exposures the job is for, in a program
    #: mixing families (rampflow.wiring.families); None: every exposure
    family: str | None = None

    @property
    def constraints(self) -> dict:
        """The rule's wildcard constraints: the family's exposures only (``{}`` for all)."""
        return stem_regex(self.family)

    def for_stem(self, stem: str) -> Job:
        """This job for exposure ``stem``: ``{stem}`` filled in every path."""
        return replace(
            self, inputs=_fill(self.inputs, stem), needs=_fill(self.needs, stem), outputs=_fill(self.outputs, stem),
            overrides=_fill(self.overrides, stem), log=_fill(self.log, stem), benchmark=_fill(self.benchmark, stem),
        )

    def per_exposure(self, attr: str):
        """A function of Snakemake's wildcards giving ``attr`` for the wildcards' exposure."""
        return lambda wildcards: getattr(self.for_stem(wildcards.stem), attr)


def _fill(value, stem: str):
    if isinstance(value, str):
        return value.replace("{stem}", stem)
    if isinstance(value, dict):
        return {k: _fill(v, stem) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_fill(v, stem) for v in value]
    return value


# --------------------------------------------------------------------------- paths

def out_dir(config: dict) -> str:
    """``<results>/<program>``."""
    return rfconfig.results_dir(config)


def product(config: dict, suffix: str, stem: str = "{stem}") -> str:
    """A Stage 1 product: ``<out>/stage1/<stem>_<suffix>.fits``."""
    return names.product_path(f"{out_dir(config)}/stage1", stem, suffix)


def uncal_path(config: dict, stem: str = "{stem}") -> str:
    """The uncal file of an exposure: in ``inputs.uncal_dir`` for local inputs, else under
    ``<out>/uncal``."""
    if config["inputs"]["source"] == "local":
        return names.product_path(str(Path(config["inputs"]["uncal_dir"])), stem, "uncal")
    return names.product_path(f"{out_dir(config)}/uncal", stem, "uncal")


def references_ready(config: dict) -> str:
    """Marker that the reference files exist locally before parallel jobs start."""
    return f"{out_dir(config)}/crds/.ready"


def saturation_reference(config: dict, stem: str = "{stem}") -> str:
    """The per-exposure SATURATION reference with custom thresholds."""
    return f"{out_dir(config)}/references/{stem}_saturation_custom.fits"


def log_path(config: dict, tag: str) -> str:
    return f"{out_dir(config)}/logs/{tag}.log"


def benchmark_path(config: dict, tag: str) -> str:
    return f"{out_dir(config)}/benchmarks/{tag}.tsv"


# --------------------------------------------------------------------------- steps and groups

def ramp_chain(config: dict) -> list[str]:
    """The configured ramp steps, in order."""
    return rfconfig.ramp_steps(config["steps"])


def step_inputs(step: str) -> tuple[str, ...]:
    """Names of the files step ``step`` reads besides its ramp (registry), e.g. destripe_mask;
    not those carried from the previous exposure (:func:`carried_inputs`). In the one-pass job
    some are made by the job itself (:func:`made_in_job`)."""
    cls = get_step_class(step)
    return tuple(n for n in cls.inputs if n not in cls.carried)


def carried_inputs(step: str) -> dict:
    """Inputs of ``step`` that are the previous exposure's product (same detector, time order):
    input name -> product suffix, e.g. persistence's ``{"persistence_array": "persistence_array"}``."""
    return dict(get_step_class(step).carried)


def time_order(stems) -> list[str]:
    """Exposure stems in time order: by the parts of their JWST names (program, observation,
    visit, visit group, parallel sequence, activity, exposure number, segment), the order in
    which a visit executes them; names that do not parse come last, by name."""
    def key(stem):
        n = names.parse(names.uncal_name(stem))
        if n is None:
            return (1, (), stem)
        return (0, (n.program, n.observation, n.visit_number, n.visit_group, n.parallel, n.activity, n.exposure,
                    n.segment), stem)
    return sorted(stems, key=key)


def previous_exposure(stems, stem: str) -> str | None:
    """The exposure of the same detector just before ``stem`` in :func:`time_order`, or None."""
    det = names.stem_detector(stem)
    same = [s for s in time_order(stems) if names.stem_detector(s) == det]
    if stem not in same:
        raise ValueError(f"exposure {stem!r} is not one of this program's exposures")
    i = same.index(stem)
    return same[i - 1] if i > 0 else None


def carried_path(config: dict, job: Job, stems, stem: str, name: str):
    """The file the carried input ``name`` of ``job`` reads for exposure ``stem``: the previous
    exposure's product (a dependency on its job), or [] for the detector's first exposure."""
    prev = previous_exposure(stems, stem)
    return [] if prev is None else product(config, job.carried[name], prev)


def fused_groups(config: dict) -> list[list[str]]:
    """The ramp chain cut into runs of steps that work on integration chunks (one job each with
    ``compute.fuse``); a step that needs whole pixels across integrations (jump) stands alone,
    and a step with an input made from the ramp it reads (destripe's mask) starts a new group,
    so that ramp is written."""
    if one_pass(config):
        return [ramp_chain(config)]
    groups, current = [], []
    for s in ramp_chain(config):
        if get_step_class(s).chunking == "integrations":
            if step_inputs(s) and current:
                groups.append(current)
                current = []
            current.append(s)
        else:
            if current:
                groups.append(current)
            groups.append([s])
            current = []
    if current:
        groups.append(current)
    return groups


def one_pass(config: dict) -> bool:
    """``compute.fuse`` with ramp_fit, every ramp step able to work on the row chunks jump and
    ramp_fit use (``rows_ok``, see rampflow.runner.plan) and none reading a file made from the
    ramp before it (destripe's mask): the whole chain runs in the ramp_fit job, one job per
    exposure reading the uncal file once and writing no ramp but those kept."""
    if not (config.get("compute") or {}).get("fuse"):
        return False
    chain = ramp_chain(config)
    if not (chain and "ramp_fit" in config["steps"]):
        return False
    for s in chain:
        cls = get_step_class(s)
        if set(step_inputs(s)) - set(cls.prepass_inputs) or cls.carried or not (cls.chunking == "rows" or cls.rows_ok):
            return False
    return True


def made_in_job(config: dict, step: str) -> tuple[str, ...]:
    """Inputs of ``step`` its job makes itself (in a pre-pass of the one-pass job, e.g.
    destripe's mask, then written as a product of that job) rather than reading a file."""
    if not one_pass(config) or step not in ramp_chain(config):
        return ()
    return tuple(n for n in step_inputs(step) if n in get_step_class(step).prepass_inputs)


def in_ramp_fit_job(config: dict) -> list[str]:
    """The ramp steps that run inside the ramp_fit job: the whole chain (:func:`one_pass`), a
    last jump (:func:`jump_in_ramp_fit`), or none."""
    if one_pass(config):
        return ramp_chain(config)
    return ramp_chain(config)[-1:] if jump_in_ramp_fit(config) else []


def jump_in_ramp_fit(config: dict) -> bool:
    """``compute.fuse`` with a row-chunked last ramp step (jump) followed by ramp_fit: it runs in
    the ramp_fit job on the same row chunks (the ramp is read once)."""
    chain = ramp_chain(config)
    return (bool(config["compute"]["fuse"]) and bool(chain) and "ramp_fit" in config["steps"]
            and get_step_class(chain[-1]).chunking == "rows")


def kept_products(config: dict, group: list[str]) -> list[str]:
    """Steps of a fused group whose products are written: ``compute.keep`` (all when null) and
    the group's last (unless it is jump inside the ramp_fit job: then only if kept)."""
    keep = config["compute"]["keep"]
    keep = set(ramp_chain(config) if keep is None else keep)
    if group == in_ramp_fit_job(config):
        return [s for s in group if s in keep]
    if len(group) == 1 and group == ramp_chain(config)[-1:] and jump_in_ramp_fit(config):
        return [s for s in group if s in keep]
    return [s for s in group if s in keep or s == group[-1]]


def produced_ramps(config: dict) -> list[str]:
    """Ramp steps whose products are written (all, unless ``compute.fuse`` with ``keep``)."""
    if not config["compute"]["fuse"]:
        return ramp_chain(config)
    return [s for g in fused_groups(config) for s in kept_products(config, g)]


def step_input(config: dict, step: str) -> str:
    """The file ramp step ``step`` reads: the uncal file, or the previous step's product."""
    chain = ramp_chain(config)
    i = chain.index(step)
    return uncal_path(config) if i == 0 else product(config, chain[i - 1])


def last_ramp(config: dict) -> str:
    """The ramp the ramp_fit job reads (the one jump reads, when jump runs inside it)."""
    chain = ramp_chain(config)
    if not chain:
        return uncal_path(config)
    inside = in_ramp_fit_job(config)
    if inside:
        return step_input(config, inside[0])
    return product(config, chain[-1])


def final_suffixes(config: dict) -> list[str]:
    """The products of the last step (without its optional ones, such as ramp_fit's fitopt)."""
    cls = get_step_class(config["steps"][-1])
    return [p for p in cls.products if p not in cls.optional_products]


def ints_product(config: dict) -> str:
    """The per-integration final product light curves and the QA page read: gain_scaleints,
    rateints, or the last ramp without ramp_fit."""
    return final_suffixes(config)[-1]


def final_products(config: dict, stems) -> list[str]:
    """The last step's products of every exposure (each as its instrument family plans it)."""
    return [product(config, n, s) for s in stems for n in final_suffixes(stem_config(config, s))]


# --------------------------------------------------------------------------- custom steps

def custom_saturation(config: dict) -> dict | None:
    """The ``custom.saturation`` block, or None."""
    return (config.get("custom") or {}).get("saturation") or None


def step_params(config: dict, step: str) -> dict:
    """Parameters of ``step`` in its job: ``step_params.<step>`` plus what custom settings add
    (saturation: ``custom.saturation.n_pix_grow_sat``). A step's extra inputs are inputs, not
    parameters: destripe's ``mask_path`` goes to the job making its mask."""
    params = dict((config.get("step_params") or {}).get(step) or {})
    sat = custom_saturation(config)
    if step == "saturation" and sat and sat.get("n_pix_grow_sat") is not None:
        params["n_pix_grow_sat"] = int(sat["n_pix_grow_sat"])
    if "destripe_mask" in step_inputs(step) and "destripe_mask" not in made_in_job(config, step):
        params.pop("mask_path", None)
    return params


def step_overrides(config: dict, step: str) -> dict:
    """Reference overrides of ``step``: the config's, and with custom saturation thresholds the
    exposure's own SATURATION reference (a ``{stem}`` pattern)."""
    out = dict(config["references"]["overrides"] or {})
    if step == "saturation" and custom_saturation(config):
        out["saturation"] = saturation_reference(config)
    return out


def step_needs(config: dict, step: str) -> dict:
    """Files ``step``'s job needs besides its inputs: the custom SATURATION reference."""
    if step == "saturation" and custom_saturation(config):
        return {"saturation_reference": saturation_reference(config)}
    return {}


# --------------------------------------------------------------------------- jobs

def _steps_job(config: dict, name: str, tag: str, steps: list[str], inputs: dict, outputs: dict,
               threads: int | None = None) -> Job:
    needs = {"refs": references_ready(config)}
    overrides = dict(config["references"]["overrides"] or {})
    carried = {}
    for s in steps:
        made = made_in_job(config, s)
        inputs.update({n: product(config, n) for n in step_inputs(s) if n not in made})
        outputs.update({n: product(config, n) for n in made})  # written by the job that made it
        carried.update(carried_inputs(s))
        # a carried product is always written: the next exposure's job reads it
        outputs.update({p: product(config, p) for p in carried_inputs(s).values()})
        needs.update(step_needs(config, s))
        overrides.update(step_overrides(config, s))
    return Job(
        kind="steps", name=name, script="run_steps.py", steps=tuple(steps), inputs=inputs, needs=needs,
        outputs=outputs, params={s: step_params(config, s) for s in steps},
        settings={"context": config["references"]["crds_context"], "chunk_mb": float(config["compute"]["chunk_mb"]),
                  "use_crds_pars": bool(config["references"].get("use_crds_pars", True))},
        overrides=overrides, log=log_path(config, f"{{stem}}_{tag}"),
        benchmark=benchmark_path(config, f"{{stem}}_{tag}"),
        threads=int(config["compute"]["threads"]) if threads is None else threads, crds=True, carried=carried,
    )


def ramp_jobs(config: dict) -> list[Job]:
    """The jobs of the ramp steps: one per step, or one per fused group (``compute.fuse``; a
    last jump then runs in the ramp_fit job)."""
    if not config["compute"]["fuse"]:
        return [_steps_job(config, f"step_{s}", s, [s], {"ramp": step_input(config, s)}, {s: product(config, s)})
                for s in ramp_chain(config)]
    jobs = []
    for g in fused_groups(config):
        if g == in_ramp_fit_job(config):
            continue
        name = f"fused_{g[0]}_to_{g[-1]}" if len(g) > 1 else f"step_{g[0]}"
        outputs = {s: product(config, s) for s in kept_products(config, g)}
        jobs.append(_steps_job(config, name, f"{g[0]}_to_{g[-1]}", g, {"ramp": step_input(config, g[0])}, outputs))
    return jobs


def rate_jobs(config: dict) -> list[Job]:
    """The ramp_fit job (with jump, or the whole chain, inside it: :func:`in_ramp_fit_job`) and
    gain_scale's; in the one-pass layout gain_scale runs in the ramp_fit job too (one job per
    exposure; rate and rateints are still written, gain_scale reads them)."""
    steps = config["steps"]
    jobs = []
    last = ["gain_scale"] if one_pass(config) and "gain_scale" in steps else []
    if "ramp_fit" in steps:
        fused = in_ramp_fit_job(config)
        cls = get_step_class("ramp_fit")
        asked = step_params(config, "ramp_fit")
        outputs = {p: product(config, p) for p in cls.products if cls.makes(p, asked)}
        outputs.update({s: product(config, s) for s in fused if s in produced_ramps(config)})
        outputs.update({p: product(config, p) for s in last for p in get_step_class(s).products})
        jobs.append(_steps_job(config, "ramp_fit", "ramp_fit", fused + ["ramp_fit"] + last,
                               {"ramp": last_ramp(config)}, outputs))
    if "gain_scale" in steps and not last:
        inputs = {"rate": product(config, "rate"), "rateints": product(config, "rateints")}
        outputs = {p: product(config, p) for p in get_step_class("gain_scale").products}
        jobs.append(_steps_job(config, "gain_scale", "gain_scale", ["gain_scale"], inputs, outputs, threads=1))
    return jobs


def custom_jobs(config: dict) -> list[Job]:
    """Jobs the custom settings add: the SATURATION reference with custom thresholds, and the
    files steps read besides their ramp (destripe's background mask, from the ramp it reads)."""
    jobs = []
    sat = custom_saturation(config)
    if sat and "saturation" in ramp_chain(config):
        inputs = {"uncal": uncal_path(config)}
        if sat.get("map"):
            inputs["threshold_map"] = str(sat["map"])
        jobs.append(Job(
            kind="saturation_reference", name="custom_saturation_reference",
            script="custom_saturation_reference.py", steps=("saturation",), inputs=inputs,
            needs={"refs": references_ready(config)}, outputs={"saturation": saturation_reference(config)},
            settings={"options": threshold_options(sat), "context": config["references"]["crds_context"]},
            overrides=dict(config["references"]["overrides"] or {}),
            log=log_path(config, "{stem}_saturation_custom"), crds=True,
        ))
    for s in ramp_chain(config):
        for name in step_inputs(s):
            if name in made_in_job(config, s):
                continue
            raw = dict((config.get("step_params") or {}).get(s) or {})
            inputs = {"ramp": step_input(config, s)}
            if raw.get("mask_path"):
                inputs["user_mask"] = str(raw["mask_path"])
            jobs.append(Job(
                kind="step_input", name=name, script=f"custom_{name}.py", steps=(s,), inputs=inputs,
                outputs={name: product(config, name)}, params={s: raw},
                settings={"chunk_mb": float(config["compute"]["chunk_mb"])},
                log=log_path(config, f"{{stem}}_{name}"), benchmark=benchmark_path(config, f"{{stem}}_{name}"),
            ))
    return jobs
