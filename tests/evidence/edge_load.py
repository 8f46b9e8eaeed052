"""A vehicle as a separate process, for the reliability tests and the benchmark.

Queues evidence items 0..COUNT-1 (ids ``{prefix}-{vehicle}-{seq}``, each with one small
media blob) into a SQLite outbox, signed with the key file, and publishes them. Restarted
after a crash it continues from the outbox's next sequence number, so every item is
created exactly once; the outbox makes sure each is delivered at least once. Exits 0 when
everything queued has been acknowledged by the broker.
"""

import argparse
import hashlib
import json
import sys
import time
from datetime import UTC, datetime

from telemetry.contract import CameraPose, Detection, EvidenceMessage, MediaRef
from telemetry.outbox import Outbox
from telemetry.publisher import EvidencePublisher
from telemetry.signing import DeviceKey


def media_blob(vehicle: str, seq: int, size: int) -> bytes:
    """A deterministic JPEG-looking blob of ``size`` bytes."""
    head = b"\xff\xd8\xff" + f"{vehicle}/{seq}/".encode()
    return (head * (size // len(head) + 1))[:size]


def make_item(
    key: DeviceKey, vehicle: str, seq: int, prefix: str, size: int, site: str = "site-1"
) -> tuple[EvidenceMessage, dict[str, bytes]]:
    """Evidence item ``seq`` of ``vehicle``, signed, with its media."""
    blob = media_blob(vehicle, seq, size)
    sha = hashlib.sha256(blob).hexdigest()
    now = datetime.now(UTC)
    # Five sightings per place (repeat patrols), places 100 m apart: cases get several items.
    place, repeat = divmod(seq, 5)
    lat = 41.80 + (place % 100) * 0.001 + repeat * 0.00001
    lon = 123.40 + (place // 100 % 100) * 0.001
    pose = CameraPose(
        time=now, lat=lat, lon=lon, alt_agl_m=60.0, alt_amsl_m=110.0,
        roll_deg=0.0, pitch_deg=0.0, yaw_deg=90.0,
    )  # fmt: skip
    d = 0.0001
    det = Detection(
        class_name="waste_dumping",
        confidence=0.9,
        box_px=(100, 100, 200, 180),
        footprint_geojson={
            "type": "Polygon",
            "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat]]],
        },
    )
    msg = EvidenceMessage(
        id=f"{prefix}-{vehicle}-{seq}", sequence=seq, site_id=site, vehicle_id=vehicle,
        mission_id="m-rel", sortie_id="s-rel", time=now, lat=lat, lon=lon,
        alt_agl_m=60.0, alt_amsl_m=110.0, pose=pose, detection=det,
        media=(MediaRef(sha256=sha, size_bytes=len(blob)),),
    )  # fmt: skip
    return key.sign(msg), {sha: blob}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--outbox", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--vehicle", default="uav-1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--prefix", default="rel")
    p.add_argument("--media-bytes", type=int, default=512)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument("--rate", type=float, default=0.0, help="items per second (0: all at once)")
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args()

    key = DeviceKey.load(args.key)
    outbox = Outbox(args.outbox)
    pub = EvidencePublisher(
        outbox, "127.0.0.1", args.port, f"edge-{args.vehicle}", backlog_warning=1_000_000
    )
    pub.start()
    start = outbox.next_sequence(args.vehicle)
    print(json.dumps({"resumed_at": start}), flush=True)
    t0 = time.monotonic()
    seq = start
    while seq < args.count:
        n = min(args.chunk, args.count - seq)
        outbox.add_many(
            [
                make_item(key, args.vehicle, s, args.prefix, args.media_bytes)
                for s in range(seq, seq + n)
            ]
        )
        seq += n
        if args.rate > 0:
            ahead = (seq - start) / args.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    pub.flush(timeout=args.timeout)
    pub.stop()
    outbox.close()
    print(json.dumps({"done": True, "published": pub.published}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
