"""Peer comparison harness for tracegrad (``make bench``); not part of the test run."""
