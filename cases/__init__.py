"""The case record: models, procedure, deadlines, discretion, documents, the audit log."""
