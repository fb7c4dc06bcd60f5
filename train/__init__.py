"""Training and evaluation of the EMNIST ByMerge CNN (`python -m train`); measurements live in bench/."""
