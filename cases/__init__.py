"""The case record: database models, procedure, deadlines, discretion, documents and the audit log."""
