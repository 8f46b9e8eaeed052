"""Built-in MAVLink vehicle simulator, synthetic world and camera, ArduPilot SITL launcher."""
