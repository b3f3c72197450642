"""Stage 4, scores: a run's records against hand-labelled gold, field by field."""
