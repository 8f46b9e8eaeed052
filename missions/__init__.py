"""Sites and geofences, the local metric frame, mission planners, validation and file formats."""
