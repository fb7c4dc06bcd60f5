"""What every reader of training data shares (data.py's IDX files, csv_data.py's Kaggle CSVs): the
error they raise and the bounds on what they read. Both import it, neither the other's internals."""

# Decompressed bytes are read as a stream and never past these: a gzip bomb costs nothing.
MAX_IDX_BYTES = 1 << 30  # the official training images are 547 MB; a header claiming more is refused
MAX_TEXT_BYTES = 1 << 20  # the mapping and class-prior files are a few hundred bytes


class DataError(ValueError):
    """Input data that cannot be trained on; the message says which file and why."""
