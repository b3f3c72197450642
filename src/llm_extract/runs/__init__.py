"""Stage 3, runs: the stored line, resume, the response cache and the concurrent runner."""
