"""Errors of the synthetic world: bad generator arguments a user can fix."""


class WorldError(ValueError):
    """A synthetic world cannot be generated or saved with the arguments given."""
