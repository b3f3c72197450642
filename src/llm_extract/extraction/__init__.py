"""Stage 2, requests and records: prompts, schemas, the model call, salvage, grounding, normalising."""
