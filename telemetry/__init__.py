"""MAVLink vehicle link, the wire contract of what leaves a vehicle, device signing and the MQTT outbox."""
