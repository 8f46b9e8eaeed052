"""The `patrol` command line, configuration, end-to-end runs, schedules and reports."""
