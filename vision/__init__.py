"""Violation classes, detectors, georeferencing, merging detections into evidence."""
