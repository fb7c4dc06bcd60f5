"""Training, evaluation and benchmarks for the EMNIST ByMerge CNN (`python -m train`)."""
