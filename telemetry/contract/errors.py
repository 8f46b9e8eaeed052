"""Errors raised by the wire contract (bad messages, bad topics)."""


class ContractError(ValueError):
    """A message or topic does not follow the wire contract."""


class TopicError(ContractError):
    """An MQTT topic is not a FieldPatrol topic, or an id cannot be used in one."""
