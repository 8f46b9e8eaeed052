"""Data files of the case record (class routes); a package so wheels include them."""
