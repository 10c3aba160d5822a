"""Fixtures of the security suite: those of the reliability suite."""
import os
import sys

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(_TESTS, "reliability"), os.path.join(_TESTS, "api")]

import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "reliability_conftest", os.path.join(_TESTS, "reliability", "conftest.py"))
_rel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rel)
workdir = _rel.workdir
cluster = _rel.cluster
shared = _rel.shared
