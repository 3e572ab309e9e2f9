"""The ``rampflow`` command line.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments
and ``cmd_<name>(args) -> int`` runs it. Register new subcommands in ``_SUBCOMMANDS``.

    rampflow simulate --config config/config.yaml --outdir data/uncal --crds-path data/crds
    rampflow simulate --kind nircam_image --detectors nrca1 --nints 2 --ngroups 5 --size 64 64 \\
                      --outdir sim --crds-path sim/crds --set cr_rate=0
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("rampflow")


# ----------------------------------------------------------------------------------------
# simulate

def _add_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate", help="simulate uncal exposures, reference files (as a CRDS cache) and truth",
        description="Simulate JWST uncal exposures. Parameters come from inputs.simulate of "
                    "--config (a workflow config YAML) and are overridden by the flags.")
    p.add_argument("--config", type=Path, help="YAML config; its inputs.simulate block is used "
                                               "(a file holding only that block also works)")
    p.add_argument("--outdir", type=Path, required=True, help="directory for *_uncal.fits and *_truth.fits")
    p.add_argument("--crds-path", type=Path, default=None,
                   help="CRDS cache to write the reference files and mappings into "
                        "(default: OUTDIR/crds)")
    p.add_argument("--kind", help="a registered simulator kind (rampflow.simulate.KINDS): nirspec_tso, "
                                   "nircam_image, miri_image, miri_lrs_tso, ...; an unknown one is an error "
                                   "naming the known ones")
    p.add_argument("--detectors", nargs="+", metavar="DET", help="e.g. nrs1 nrs2")
    p.add_argument("--segments", type=int)
    p.add_argument("--nints", type=int, help="integrations of the whole exposure (all segments)")
    p.add_argument("--ngroups", type=int)
    p.add_argument("--size", type=int, nargs=2, metavar=("NY", "NX"))
    p.add_argument("--seed", type=int)
    p.add_argument("--set", dest="physics", action="append", default=[], metavar="KEY=VALUE",
                   help="physics parameter override (repeatable), e.g. --set transit_depth=0.02")
    p.set_defaults(func=cmd_simulate)


def _load_sim_cfg(path: Path | None) -> dict:
    if path is None:
        return {}
    import yaml

    with open(path) as fh:
        cfg = yaml.safe_load(fh) or {}
    if not isinstance(cfg, dict):
        raise SystemExit(f"{path}: expected a mapping at top level")
    if "inputs" in cfg:
        sim = (cfg.get("inputs") or {}).get("simulate")
        if sim is None:
            raise SystemExit(f"{path}: has no inputs.simulate block")
        sim = dict(sim)
        if "program" in cfg and "program" not in sim:
            sim["program"] = cfg["program"]
        return sim
    return dict(cfg)


def cmd_simulate(args) -> int:
    import yaml

    from .simulate import simulate_program

    sim = _load_sim_cfg(args.config)
    for key in ("kind", "detectors", "segments", "nints", "ngroups", "seed"):
        value = getattr(args, key)
        if value is not None:
            sim[key] = value
    if args.size is not None:
        sim["size"] = list(args.size)
    for item in args.physics:
        if "=" not in item:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        sim[key.strip()] = yaml.safe_load(value)
    crds_path = args.crds_path or (args.outdir / "crds")
    try:
        paths = simulate_program(args.outdir, sim, crds_path)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    for p in paths:
        print(p)
    log.info("CRDS cache: %s (context jwst_0001.pmap)", crds_path)
    return 0


# ----------------------------------------------------------------------------------------

def _parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def _add_step(sub) -> None:
    p = sub.add_parser("step", help="run one calibration step on a file",
                       description="Run one registered step on a file (runner.run, as the workflow does).")
    p.add_argument("name", help="step name, e.g. saturation, jump, ramp_fit, gain_scale")
    p.add_argument("input", type=Path, help="input: a ramp (uncal or the previous step's product), or for a "
                                             "step on rate products the rate file (rateints is read next to it)")
    p.add_argument("output", type=Path, help="output file: the step's first product (ramp_fit: the rate file; "
                                              "rateints and fitopt are written next to it)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="step parameter (jwst name), repeatable")
    p.add_argument("--override", action="append", default=[], metavar="REFTYPE=PATH",
                   help="reference file to use instead of CRDS, repeatable")
    p.add_argument("--input", dest="extra_inputs", action="append", default=[], metavar="NAME=PATH",
                   help="an extra input of the step, e.g. destripe_mask=PATH (default: built from the input)")
    p.add_argument("--context", default=None, help="CRDS context, e.g. jwst_1322.pmap")
    p.add_argument("--no-crds-pars", action="store_true",
                   help="leave out the step's CRDS parameter file (jwst's defaults and --param only)")
    p.add_argument("--chunk-mb", type=float, default=512.0)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_step)


def _pairs(items, what) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"rampflow: {what} {item!r} is not KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out


def _sibling(path: str, suffix: str, other: str) -> str:
    """``<base>_<suffix>.fits`` -> ``<base>_<other>.fits`` (any other name: ``<stem>_<other>.fits``)."""
    base = path[:-len(f"_{suffix}.fits")] if path.endswith(f"_{suffix}.fits") else path.rsplit(".fits", 1)[0]
    return f"{base}_{other}.fits"


def step_files(name: str, input_path, output_path, params: dict) -> tuple[dict, dict]:
    """The inputs and outputs of ``runner.run`` for one step from an input and an output file:
    the step's first input / product are the files given, its others sit next to them with
    their suffixes (optional products only when their parameter is set)."""
    from .steps import get_step_class

    cls = get_step_class(name)
    inp, out = str(input_path), str(output_path)
    inputs = {key: (inp if k == 0 else _sibling(inp, cls.reads[0], key)) for k, key in enumerate(cls.reads)}
    outputs = {cls.products[0]: out}
    for suffix in cls.products[1:]:
        if cls.makes(suffix, params):
            outputs[suffix] = _sibling(out, cls.products[0], suffix)
    return inputs, outputs


def step_params(name: str, texts: dict) -> dict:
    """``--param`` values (name -> text) read as step ``name``'s spec reads them, then checked
    against it: ValueError naming ``step_params.<step>.<name>``, the value and what is allowed
    (KeyError for an unknown step)."""
    from .steps import get_step_class

    cls = get_step_class(name)
    params = {k: (cls.param_specs[k].parse_text(v) if k in cls.param_specs else _parse_value(v))
              for k, v in texts.items()}
    cls.check_params(params)
    return params


def cmd_step(args) -> int:
    from . import references, runner

    overrides = _pairs(args.override, "--override")
    try:
        params = step_params(args.name, _pairs(args.param, "--param"))
        inputs, outputs = step_files(args.name, args.input, args.output, params)
    except KeyError as exc:
        print(f"rampflow step: {exc.args[0]}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"rampflow step: {exc}", file=sys.stderr)
        return 2
    inputs.update(_pairs(args.extra_inputs, "--input"))
    try:
        runner.run([args.name], inputs, outputs, params={args.name: params}, overrides=overrides,
                   crds_context=args.context, chunk_mb=args.chunk_mb, threads=args.threads,
                   use_crds_pars=not args.no_crds_pars)
    except references.ReferenceError as exc:
        print(f"rampflow step: {exc}", file=sys.stderr)
        return 2
    print(args.output)
    return 0


def _add_params(sub) -> None:
    p = sub.add_parser("params", help="list a step's parameters and defaults (jwst names); with --exposure, "
                       "the values for that exposure and where each comes from")
    p.add_argument("name", help="step name")
    p.add_argument("--exposure", type=Path, help="an uncal or ramp file: resolve the step's parameters for it "
                   "(jwst default, then the CRDS parameter file, then --param)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter as the config's step_params would give it (repeatable)")
    p.add_argument("--override", action="append", default=[], metavar="REFTYPE=PATH",
                   help="e.g. pars-jumpstep=my_pars.asdf (or =N/A for none)")
    p.add_argument("--context", default=None, help="pin a CRDS context, e.g. jwst_1322.pmap")
    p.add_argument("--no-crds-pars", action="store_true", help="leave out the CRDS parameter files")
    p.set_defaults(func=cmd_params)


def cmd_params(args) -> int:
    from .steps import get_step_class

    try:
        specs = get_step_class(args.name).param_specs
    except KeyError as exc:
        print(f"rampflow params: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.exposure is None:
        for k, spec in specs.items():
            print(f"{k} = {spec.default!r}  # {spec.describe()}" + (f"; {spec.comment}" if spec.comment else ""))
        return 0
    from . import io, references

    try:
        given = step_params(args.name, _pairs(args.param, "--param"))
        overrides = _pairs(args.override, "--override")
        with io.open_ramp(args.exposure) as rf:
            meta = rf.meta
        res = references.resolve_parameters(meta, args.name, given, overrides=overrides, context=args.context,
                                            use_crds_pars=not args.no_crds_pars)
        notes = list(res.notes)
        if get_step_class(args.name).official:
            notes += references.check_unimplemented_pars(meta, args.name, overrides=overrides,
                                                         context=args.context,
                                                         use_crds_pars=not args.no_crds_pars)
    except (ValueError, OSError, KeyError) as exc:
        print(f"rampflow params: {exc}", file=sys.stderr)
        return 2
    print(f"# {args.name} for {args.exposure.name}; CRDS parameter file: {res.pars_name}")
    for k, v in res.values.items():
        print(f"{k} = {v!r}    # {res.sources[k]}")
    for n in notes:
        print(f"# note: {n}")
    return 0


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="summarise a JWST ramp or rate file")
    p.add_argument("path", type=Path)
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    from . import io

    try:
        summary = io.describe(args.path)
    except io.ProductError as exc:
        print(f"rampflow info: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def _add_flags(sub) -> None:
    from .qa.flags import add_subcommand

    add_subcommand(sub)


_SUBCOMMANDS = [_add_simulate, _add_step, _add_params, _add_info, _add_flags]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="rampflow", description="JWST ramps to slopes: tools around the workflow.")
    parser.add_argument("--version", action="version", version=f"rampflow {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _SUBCOMMANDS:
        register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    level = logging.WARNING - 10 * min(2, args.verbose + 1)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
