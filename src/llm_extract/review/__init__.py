"""The review page: a run's records beside their articles and gold."""
