#!/usr/bin/env python
"""Where the one-pass Stage 1 job's wall time goes, and how many cores work in each part.

Runs the one-pass job (uncal -> rate / rateints, as ``bench_stage1.py --stage1 --modes
onepass`` runs it, in this process) with the runner's timers extended to CPU time: for every
timed part (reading, writing, reference loading, each step's kernels in the row pass) and
for the phases between the runner's log messages it prints the wall time, the process's CPU
time over it (every thread) and their ratio, the cores busy on average (2.0 = both cores of
a 2-core machine), and the main thread's own CPU time: a part whose CPU time is all the
main thread's is serial, the place to overlap or parallelise (this share does not depend
on the machine's load, the cores busy do).

    python benchmarks/profile_onepass.py /path/to/case   # a folder of bench_stage1's --stage1
        [--threads 2] [--chunk-mb 700] [--snowballs off] [--out DIR]

The case folder is one ``bench_stage1.py --stage1`` made (``<workdir>/tso``: the uncal file
and its ``crds`` cache). Timings of the parts overlap when a part runs on another thread
(read-ahead): their sum then exceeds the wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time

T_START = time.perf_counter()
CPU_START = time.process_time()


def _boot_seconds() -> float:
    """Seconds since this process started (the interpreter's own start-up included)."""
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    return up - start_ticks / os.sysconf("SC_CLK_TCK")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", help="a case folder of bench_stage1.py --stage1 (uncal file and crds cache)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk-mb", type=float, default=700.0)
    ap.add_argument("--snowballs", choices=("crds", "off"), default="off")
    ap.add_argument("--out", default=None, help="products' folder (default: <case>/profile)")
    a = ap.parse_args(argv)
    case = os.path.abspath(a.case)
    uncal = sorted(f for f in os.listdir(case) if f.endswith("_uncal.fits"))[0]
    out = a.out or os.path.join(case, "profile")
    os.makedirs(out, exist_ok=True)
    crds = os.path.join(case, "crds")
    maps = sorted(f for f in os.listdir(os.path.join(crds, "mappings", "jwst")) if f.endswith(".pmap"))
    os.environ.update(CRDS_PATH=crds, CRDS_MODE="local", CRDS_IGNORE_MAPPING_CHECKSUM="1",
                      CRDS_SERVER_URL="https://127.0.0.1:9")
    context = maps[-1]
    os.environ["CRDS_CONTEXT"] = context

    pre = _boot_seconds() - (time.perf_counter() - T_START)  # interpreter start before this module ran
    t_imp, c_imp = time.perf_counter(), time.process_time()
    from rampflow import runner
    from rampflow.io import timing
    imports = (time.perf_counter() - t_imp, time.process_time() - c_imp)

    parts: dict[str, list[float]] = {}

    def add(name, wall, cpu, main):
        p = parts.setdefault(name, [0.0, 0.0, 0, 0.0])
        p[0] += wall
        p[1] += cpu
        p[2] += 1
        p[3] += main

    orig_timed, orig_step = timing.timed, timing.step_timer
    depth = [0]

    @contextlib.contextmanager
    def timed(kind):
        if threading.current_thread() is not threading.main_thread():
            with orig_timed(kind):
                yield
            return
        depth[0] += 1
        t, c, m = time.perf_counter(), time.process_time(), time.thread_time()
        try:
            with orig_timed(kind):
                yield
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                add(kind, time.perf_counter() - t, time.process_time() - c, time.thread_time() - m)

    @contextlib.contextmanager
    def step_timer(name):
        t, c, m = time.perf_counter(), time.process_time(), time.thread_time()
        try:
            with orig_step(name):
                yield
        finally:
            add("step " + name, time.perf_counter() - t, time.process_time() - c, time.thread_time() - m)

    timing.timed, timing.step_timer = timed, step_timer

    events = []

    stacks: dict[str, int] = {}

    def sample_stacks(seconds=2.5):  # where the main thread is, every 20 ms
        import traceback

        main = threading.main_thread().ident
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            frame = sys._current_frames().get(main)
            if frame is not None:
                key = " < ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}"
                                 for f in reversed(traceback.extract_stack(frame)[-6:]))
                stacks[key] = stacks.get(key, 0) + 1
            time.sleep(0.02)

    class Phases(logging.Handler):
        def emit(self, record):
            msg = record.getMessage()
            events.append((time.perf_counter(), time.process_time(), msg[:110]))
            if ": wrote " in msg and os.environ.get("PROFILE_STACKS"):
                threading.Thread(target=sample_stacks, daemon=True).start()

    log = logging.getLogger("rampflow")
    log.addHandler(Phases())
    log.setLevel(logging.INFO)

    from rampflow.runner import rate_products

    def announced(fn, what):  # a phase boundary where the runner logs nothing
        def call(*args, **kwargs):
            log.info("(%s starts)", what)
            return fn(*args, **kwargs)
        return call

    runner.run_products_pass = announced(runner.run_products_pass, "pass of gain_scale")
    rate_products.load_step = announced(rate_products.load_step, "gain_scale's load_step")
    rate_products.io = type("io", (), {k: getattr(rate_products.io, k) for k in dir(rate_products.io)
                                       if not k.startswith("__")})
    rate_products.io.read_image_product = announced(rate_products.io.read_image_product, "read_image_product")
    rate_products.io.write_image_product = announced(rate_products.io.write_image_product, "write_image_product")

    steps = ["group_scale", "dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump",
             "ramp_fit", "gain_scale"]
    outputs = {k: os.path.join(out, f"x_{k}.fits") for k in ("rate", "rateints", "gain_scale", "gain_scaleints")}
    params = {"jump": {"expand_large_events": False}} if a.snowballs == "off" else {}
    peak = [0.0, ""]

    def sample_memory():  # private (anonymous) resident memory, as bench_stage1 measures it
        while True:
            with open("/proc/self/status") as f:
                anon = next(int(line.split()[1]) / 1024 for line in f if line.startswith("RssAnon:"))
            if anon > peak[0]:
                peak[:] = [anon, events[-1][2] if events else ""]
            time.sleep(0.02)

    threading.Thread(target=sample_memory, daemon=True).start()
    t_run, c_run = time.perf_counter(), time.process_time()
    events.append((t_run, c_run, "runner.run starts"))
    runner.run(steps, {"ramp": os.path.join(case, uncal)}, outputs, crds_context=context, chunk_mb=a.chunk_mb,
               threads=a.threads, params=params)
    t_end, c_end = time.perf_counter(), time.process_time()
    events.append((t_end, c_end, "runner.run ends"))

    print(f"interpreter start-up before this script: {pre:.2f} s")
    print(f"imports (rampflow.runner): wall {imports[0]:.2f} s, cpu {imports[1]:.2f} s")
    wall, cpu = t_end - t_run, c_end - c_run
    print(f"runner.run: wall {wall:.2f} s, cpu {cpu:.2f} s, cores {cpu / wall:.2f}")
    print("\nphases between log messages (wall s, cpu s, cores) -- the message that ends each phase:")
    merged: list[list] = []
    for (t0, c0, _), (t1, c1, msg) in zip(events, events[1:]):
        key = msg.split(":")[0] if "rows " in msg and "done" in msg else msg
        if merged and merged[-1][2] == key and key.endswith("ramp_fit + gain_scale") is False and "done" in msg:
            merged[-1][0] += t1 - t0
            merged[-1][1] += c1 - c0
            merged[-1][3] += 1
        else:
            merged.append([t1 - t0, c1 - c0, key, 1])
    for w, c, msg, n in merged:
        tag = f" (x{n})" if n > 1 else ""
        print(f"  {w:7.2f} {c:7.2f} {c / w if w > 0 else 0:5.2f}  {msg}{tag}")
    print("\ntimed parts (wall s, cpu s, cores, calls, main thread's cpu s: all of the cpu = serial):")
    for name, (w, c, n, m) in sorted(parts.items(), key=lambda kv: -kv[1][0]):
        print(f"  {w:7.2f} {c:7.2f} {c / w if w > 0 else 0:5.2f} {n:5d} {m:7.2f}  {name}")
    for key, n in sorted(stacks.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {n:4d} x {key}")
    print(f"peak private memory {peak[0]:.0f} MB, in the phase after: {peak[1]}")
    total = time.perf_counter() - T_START + pre
    print(f"\nprocess so far: wall {total:.2f} s, cpu {time.process_time():.2f} s")
    json.dump({"parts": parts, "imports": imports, "pre": pre}, sys.stderr)


if __name__ == "__main__":
    main()
