"""Test and benchmark helpers. Never a source of quality figures: the fake server knows no articles."""
