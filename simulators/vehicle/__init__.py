"""Built-in MAVLink vehicle simulator: ArduCopter / ArduRover behaviour on a real socket.

with SimulatorServer(kind="copter", home=(41.70, 123.40, 42.0), speedup=20) as sim:
    url = sim.url          # "tcp:127.0.0.1:PORT" for pymavlink, MAVProxy, QGroundControl
    sim.wait_ready()
    ...                    # upload a mission, arm, fly; sim.vehicle holds the true state
"""

from simulators.vehicle.errors import SimulatorError
from simulators.vehicle.faults import Faults
from simulators.vehicle.model import Capture, Position, Vehicle
from simulators.vehicle.modes import COPTER_MODES, ROVER_MODES
from simulators.vehicle.params import FIELDPATROL_DEFAULTS, ParamStore
from simulators.vehicle.server import SimulatorServer

__all__ = [
    "COPTER_MODES",
    "FIELDPATROL_DEFAULTS",
    "ROVER_MODES",
    "Capture",
    "Faults",
    "ParamStore",
    "Position",
    "SimulatorError",
    "SimulatorServer",
    "Vehicle",
]
