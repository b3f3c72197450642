"""Stage 5, events: incidents from many reports fused into events."""
