"""CRDS parameter reference files (``pars-<step>``) for the simulator's CRDS cache.

jwst's steps take their parameters from the ``pars-<jwst step class>`` file CRDS selects for
the exposure, between the code defaults and the user's. The simulated cache ships such files
for the simulator's modes, so that rampflow's runs (and jwst's, reading the same cache without
STPIPE_DISABLE_CRDS_STEPPARS) see per-mode defaults as on real data.

The files are ASDF step configs as stpipe writes them (``class``, ``name``, ``parameters``,
``meta`` with reftype, instrument, pedigree, useafter, ...), matched by an rmap on
(EXP_TYPE, DETECTOR, SUBARRAY, READPATT, TSOVISIT) -- ``N/A`` = any -- then USEAFTER.

What they hold mirrors what STScI's CRDS selects for these modes as publicly documented:
snowball flagging in jump (``expand_large_events``) for NIRCam (imaging, and the TSO imaging
and grism modes) and for NIRSpec bright-object time series, and group-level 1/f cleaning
(``clean_flicker_noise`` run, not skipped) for NIRSpec BOTS.

What was found, and what is assumed. Found (public jwst / crds documentation, release notes
and pull requests): jwst's snowball and shower flagging is off in the code and switched on
per mode only by ``pars-jumpstep`` files in CRDS (crds PR 909 "initial spec implementations
for pars-jumpstep for miri, nircam, and nirspec"; the Build 9.2 release notes: flagging
"reactivated through parameter reference file updates in CRDS"); the near-infrared files turn
on ``expand_large_events`` only (``find_showers`` is MIRI's). Not found: the operational files'
contents (no network here; the crds package ships none, and the public pages searched do not
list their values). So the values beside the switch are ASSUMED, not copied: the snowball
settings ``min_sat_area = min_jump_area = 15`` and jwst's defaults for the rest;
clean_flicker_noise's ``fit_method: median``, ``background_method: median``,
``mask_science_regions: false``, ``fit_by_channel: false``, ``n_sigma: 2``. Replace them with
the real files (``references.overrides`` or a real CRDS cache) for exact per-mode parity.

clean_flicker_noise for BOTS, what was found vs assumed. Found (public STScI material): jwst
issue #8815 (JP-3759) tracks enabling the step "via parameter reference files for some
instrument modes"; the NIRSpec BOTS pipeline notebook's Build 13.0 update
(jwst-pipeline-notebooks PR #104) says the step is "on by default" for BOTS, so ``skip: false``
is found. Not found: the parameter values of the operational
``jwst_nirspec_pars-cleanflickernoisestep`` file. jwst PR #9981 gives the old spec2 NSClean
equivalents (fft, no background, mask_science_regions, n_sigma 5) but for rate images in
calwebb_spec2, not this file. So the values here are ASSUMED: jwst's code defaults (median fit,
median background, one mask; ``mask_science_regions: false``, which BOTS needs without the
instrument-model WCS), each written out so that the file visibly sets them.

MIRI. FOUND (CRDS's release notes): CRDS has a ``miri_pars-jumpstep`` rmap (matching on
filter and subarray among others) and a ``miri_pars-detector1pipeline`` rmap, and jwst's
JumpStep documents ``find_showers`` as MIRI's shower flagging. ASSUMED: that the MIRI jump
parameter files for imaging and LRS slitless switch ``find_showers`` on with jwst's default
shower settings (``extend_snr_threshold 1.2``, ``extend_min_area 90``,
``time_masked_after_shower 15``, ``max_extended_radius 200``), and that MIRI TSO files keep
``mask_snowball_core_next_int``-style NIR options off (not listed). No
detector1pipeline file is written (rampflow's step order comes from its own config).
Time-series modes added with the NIRISS and NIRCam TSO kinds: the NIRCam entries for
NRC_TSGRISM and NRC_TSIMAGE (snowball flagging) were already here, with the provenance above; the NIRISS
SOSS entry (snowball flagging for
NIS_SOSS, TSO) is ASSUMED -- NIRISS's detector shows snowballs like the others and the public
SOSS reduction notes recommend flagging them, but the operational pars-jumpstep selection for
NIS_SOSS could not be checked offline. No clean_flicker_noise file is shipped for SOSS or the
NIRCam TSO modes (ASSUMED: the public calwebb_detector1 notes turn it on by parameter file
only for NIRSpec BOTS); rampflow's ``destripe`` step is what their demo configs use.

refpix (``pars-refpixstep``): SIRS side-pixel correction on full frames. FOUND for NIRSpec:
CRDS's ``nirspec_pars-refpixstep`` rmap ("NIRSpec NRS FULL reference pixel correction step
parameters", matching on READPATT and SUBARRAY; crds repository, jwst/specs), whose READPATT
values are NRS, NRSRAPID, NRSRAPIDD1, NRSRAPIDD2 and NRSRAPIDD6 (the CRDS message quoted in
jwst issue #9761), and the NIRSpec pipeline notebooks' Build 13.0 update
(jwst-pipeline-notebooks PR #104): "For FULL frame data using traditional readout modes (NRS,
NRSRAPID) the default is 'sirs'". So NIRSpec FULL with those readouts gets
``refpix_algorithm: sirs`` (other parameters jwst's defaults, ASSUMED). NIRCam: CRDS has a
``pars-refpixstep`` rmap for NIRCam too (crds PR 1134, "New pars-refpixstep rmap for
nircam"), and jwst's NIRCam full-frame imaging regression test pins
``--steps.refpix.refpix_algorithm=median`` for its default run, which it would not need if
CRDS left the default; the file's content was not found, so NIRCam FULL ->
``refpix_algorithm: sirs`` is ASSUMED (inferred). NIRISS: no ``pars-refpixstep`` was found, so
none is shipped (jwst's default, the running median). SIRS acts on full frames only, so
the subarray TSO modes are unaffected either way.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

#: jwst step class per step name (the pars reftype is ``pars-`` + its lower-case name)
_CLASSES = {"jump": "jwst.jump.jump_step.JumpStep", "refpix": "jwst.refpix.refpix_step.RefPixStep",
            "clean_flicker_noise": "jwst.clean_flicker_noise.clean_flicker_noise_step.CleanFlickerNoiseStep"}

_SNOWBALLS = {"expand_large_events": True, "min_sat_area": 15.0, "min_jump_area": 15.0, "expand_factor": 2.0,
              "sat_required_snowball": True, "min_sat_radius_extend": 2.5, "sat_expand": 2, "edge_size": 25,
              "mask_snowball_core_next_int": True, "snowball_time_masked_next_int": 4000}
_MIRI_SHOWERS = {"find_showers": True, "extend_snr_threshold": 1.2, "extend_min_area": 90,
                 "time_masked_after_shower": 15.0, "max_extended_radius": 200}
_BOTS_CFN = {"skip": False, "fit_method": "median", "background_method": "median", "mask_science_regions": False,
             "fit_by_channel": False, "n_sigma": 2.0}

_SIRS = {"refpix_algorithm": "sirs"}
#: NIRSpec's traditional (non-IRS2) readout patterns, as its pars-refpixstep rmap lists them
NRS_TRADITIONAL = ("NRS", "NRSRAPID", "NRSRAPIDD1", "NRSRAPIDD2", "NRSRAPIDD6")

#: instrument -> list of (step, match (EXP_TYPE, DETECTOR, SUBARRAY, READPATT, TSOVISIT), parameters)
PARS = {
    "NIRSPEC": [
        ("jump", ("NRS_BRIGHTOBJ", "N/A", "N/A", "N/A", "T"), _SNOWBALLS),
        ("clean_flicker_noise", ("NRS_BRIGHTOBJ", "N/A", "N/A", "N/A", "T"), _BOTS_CFN),
        *[("refpix", ("N/A", "N/A", "FULL", rp, "N/A"), _SIRS) for rp in NRS_TRADITIONAL],
    ],
    "NIRISS": [
        ("jump", ("NIS_SOSS", "N/A", "N/A", "N/A", "T"), _SNOWBALLS),
    ],
    "NIRCAM": [
        ("jump", ("NRC_IMAGE", "N/A", "N/A", "N/A", "N/A"), _SNOWBALLS),
        ("jump", ("NRC_TSIMAGE", "N/A", "N/A", "N/A", "T"), _SNOWBALLS),
        ("jump", ("NRC_TSGRISM", "N/A", "N/A", "N/A", "T"), _SNOWBALLS),
        ("refpix", ("N/A", "N/A", "FULL", "N/A", "N/A"), _SIRS),
    ],
    "MIRI": [
        ("jump", ("MIR_IMAGE", "N/A", "N/A", "N/A", "N/A"), _MIRI_SHOWERS),
        ("jump", ("MIR_LRS-SLITLESS", "N/A", "N/A", "N/A", "T"), _MIRI_SHOWERS),
    ],
}
USEAFTER = "2022-01-01 00:00:00"
PARKEY = ("META.EXPOSURE.TYPE", "META.INSTRUMENT.DETECTOR", "META.SUBARRAY.NAME", "META.EXPOSURE.READPATT",
          "META.VISIT.TSOVISIT")


def reftype(step: str) -> str:
    return "pars-" + _CLASSES[step].rsplit(".", 1)[1].lower()


def write_pars_file(path, step: str, instrument: str, parameters: dict) -> None:
    """An ASDF parameter reference file as stpipe exports one with CRDS metadata."""
    import asdf  # heavy (its extensions); only writing the cache needs it

    tree = {
        "class": _CLASSES[step], "name": step, "parameters": dict(parameters),
        "meta": {"author": "rampflow simulate", "date": _dt.datetime(2022, 1, 1).isoformat(),
                 "description": f"Parameters for calibration step {_CLASSES[step]} (simulated cache)",
                 "instrument": {"name": instrument.upper()}, "origin": "rampflow", "pedigree": "DUMMY",
                 "reftype": reftype(step), "telescope": "JWST", "useafter": USEAFTER.replace(" ", "T")},
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    asdf.AsdfFile(tree).write_to(str(tmp))
    tmp.replace(path)


def rmap_text(name: str, instrument: str, rtype: str, entries: dict) -> str:
    """A pars rmap: Match on :data:`PARKEY`, then UseAfter; entries {match tuple: file}."""
    parkey = "(" + ", ".join(f"'{k}'" for k in PARKEY) + ")"
    lines = [
        "header = {",
        "    'classes' : ('Match', 'UseAfter'),",
        "    'derived_from' : 'generated by rampflow simulate',",
        "    'file_ext' : '.asdf',",
        f"    'filekind' : '{rtype.upper()}',",
        f"    'filetype' : '{rtype.upper()}',",
        f"    'instrument' : '{instrument.upper()}',",
        "    'mapping' : 'REFERENCE',",
        f"    'name' : '{name}',",
        "    'observatory' : 'JWST',",
        f"    'parkey' : ({parkey}, ('META.OBSERVATION.DATE', 'META.OBSERVATION.TIME')),",
        "    'sha1sum' : '@SHA1SUM@',",
        f"    'suffix' : '{rtype}',",
        f"    'text_descr' : 'Simulated {rtype} step parameters',",
        "}",
        "",
        "selector = Match({",
    ]
    for key in sorted(entries):
        match = ", ".join(f"'{v}'" for v in key)
        lines.append(f"    ({match}) : UseAfter({{")
        lines.append(f"        '{USEAFTER}' : '{entries[key]}',")
        lines.append("    }),")
    lines.append("})")
    return "\n".join(lines) + "\n"


def write_pars(refroot: Path, instruments) -> dict:
    """Write the parameter files of :data:`PARS` for ``instruments`` under
    ``refroot/<instrument>/``; returns {(instrument, reftype): {match tuple: file name}} for
    the rmaps."""
    out: dict = {}
    for instr in sorted(instruments):
        counts: dict = {}
        for step, match, params in PARS.get(instr.upper(), []):
            rt = reftype(step)
            counts[rt] = counts.get(rt, 0) + 1
            name = f"jwst_{instr.lower()}_{rt}_{counts[rt]:04d}.asdf"
            dest = refroot / instr.lower() / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_pars_file(dest, step, instr, params)
            out.setdefault((instr.upper(), rt), {})[match] = name
    return out
