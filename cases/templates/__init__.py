"""Jinja2 templates of the case-file documents; a package so wheels include them."""
