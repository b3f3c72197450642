"""Evals: suites run and scored, reports, gates and comparisons."""
