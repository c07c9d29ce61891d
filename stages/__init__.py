"""The pipeline's stages: one module per DVC stage, plus the shared modules they use."""
