"""EXAMPLE discretion benchmark tables; a package so wheels include them."""
