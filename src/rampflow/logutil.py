"""Logging set-up shared by the workflow scripts and the command line."""

from __future__ import annotations

import logging
import sys


def setup(logfile=None, level=logging.INFO) -> logging.Logger:
    """Send rampflow's log to ``logfile`` (the rule's ``log:``) and to stderr."""
    root = logging.getLogger()
    root.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    for h in list(root.handlers):
        root.removeHandler(h)
    handlers = [logging.StreamHandler(sys.stderr)]
    if logfile:
        handlers.append(logging.FileHandler(str(logfile), mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    logging.captureWarnings(True)
    if logfile:
        sys.excepthook = _log_then(sys.excepthook)
    return logging.getLogger("rampflow")


def _log_then(hook):
    """An excepthook that first logs an uncaught exception as an ERROR line (so a job's own log
    names why it failed; the QA page lists it), then calls ``hook``."""
    if getattr(hook, "_rampflow", False):
        return hook

    def excepthook(kind, exc, tb):
        logging.getLogger("rampflow").error("%s: %s", kind.__name__, exc)
        hook(kind, exc, tb)

    excepthook._rampflow = True
    return excepthook
