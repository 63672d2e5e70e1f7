"""A fast back-channel receiver for benchmarks and load tests: raw asyncio HTTP/1.1 with keep-alive,
run as its own process (``python tests/support/fast_receiver.py --port N``).

POST /ok/<client>   → 200, records (client, sid, arrival time on the system's monotonic clock); a logout
                      token (form) or a Security Event Token (the body itself: sid from a complex
                      subject, else the txn)
POST /hang/<client> → never answers
POST /slow/<client> → 200 after half a second, recorded like /ok/
GET  /stats         → JSON {"count": n, "latest": {client: t}}; with ?full=1 also "arrivals": {"client sid": t}
                      and "tokens": [[client, sid, jti], ...] (every one, duplicates included); ?reset=1 resets
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from urllib.parse import parse_qs

arrivals: dict[str, float] = {}
tokens: list[tuple[str, str, str]] = []
latest: dict[str, float] = {}  # client → arrival time of its newest token
count = 0


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global count
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            if target.startswith("/hang/"):
                await asyncio.sleep(3600)
            if target.startswith("/slow/"):
                await asyncio.sleep(0.5)
            if target.startswith("/stats"):
                full = "full=1" in target
                body_out = {"count": count, "latest": latest}
                if full:
                    body_out.update(arrivals=arrivals, tokens=tokens)
                payload = json.dumps(body_out).encode()
                if "reset=1" in target:
                    arrivals.clear()
                    tokens.clear()
                    count = 0
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(payload)).encode()
                    + b"\r\n\r\n"
                    + payload
                )
            else:
                now = time.monotonic()
                client = target.split("/")[2] if target.count("/") >= 2 else "?"
                text = body.decode()
                token = parse_qs(text).get("logout_token", [""])[0] if text.startswith("logout_token=") else text
                claims = claims_of(token)
                subject = claims.get("sub_id")
                session = subject.get("session") if isinstance(subject, dict) else None
                sid = claims.get("sid") or (session.get("id") if isinstance(session, dict) else claims.get("txn"))
                arrivals[f"{client} {sid}"] = now
                tokens.append((client, str(sid), str(claims.get("jti"))))
                latest[client] = now
                count += 1
                writer.write(b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(hosts: list[str], port: int) -> None:
    servers = [await asyncio.start_server(handle, host, port, backlog=1024) for host in hosts]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hosts", nargs="+", default=["127.0.0.1"])
    args = parser.parse_args()
    asyncio.run(main(args.hosts, args.port))
