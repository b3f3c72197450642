"""Where answers come from: the embedded llama.cpp server or any OpenAI-compatible endpoint."""
