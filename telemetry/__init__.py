"""MAVLink vehicle link, wire contract of what leaves a vehicle, device signing, MQTT outbox."""
