"""Shared test configuration."""

from __future__ import annotations

import os

from hypothesis import settings

# CI explores the same examples on every run, so a result can be reproduced; locally
# each run explores new ones (and keeps failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
