"""Stage 1, documents: reading articles from files, folders and JSONL; marking injected instructions."""
