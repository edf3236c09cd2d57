"""Test-suite settings: hypothesis runs derandomized and without deadlines.

The machines are shared and noisy, and CI must not turn red by chance: every
run draws the same examples, and nothing depends on timing. Set
``HYPOTHESIS_PROFILE=explore`` to draw fresh random examples locally.
"""

import os

from hypothesis import HealthCheck, settings

_TIMING_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "tracegrad",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_TIMING_CHECKS,
)
settings.register_profile(
    "explore", deadline=None, print_blob=True, suppress_health_check=_TIMING_CHECKS
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tracegrad"))
