"""Drives `tokenctl serve` for bench/memory.sh and reads its memory as it goes.

    python3 bench/memory.py PORT PID SECRETS_FILE ADDRESSES REVOKE_ADDRESSES REVOKED

Every request says where it comes from in X-Forwarded-For (the bench's serve trusts
127.0.0.1 as its proxy); IPv4 and IPv6 addresses alternate, each IPv6 one in a /64 of its
own, so that every address is a new one to every per-address table (the usage buffer
and the /revoke throttle). Phases:

1. /auth: ADDRESSES requests, request k presenting token k mod (number of tokens)
   from address k: every token, every address.
2. /revoke from REVOKE_ADDRESSES further addresses, one request each (a token that is
   none of the database's): the throttle meets more addresses than it keeps.
3. /revoke of the last REVOKED tokens, 20 from each of a few addresses.
4. /auth of every token once more, from addresses of phase 1 (the revoked ones: 401).

Prints, per phase, the answers by status and serve's resident memory (VmRSS, largest
seen while the phase ran, sampled every 20 ms) and its peak so far (VmHWM), in MiB.
"""

import asyncio
import collections
import ipaddress
import sys
import time
import urllib.parse

HOST = "127.0.0.1"
#: Connections at once: /revoke answers no sooner than 100 ms, so it needs many.
CONNECTIONS = {"auth": 32, "revoke": 256}


def address(k):
    """The k-th client address: even k IPv4 (from 10.0.0.0), odd k IPv6 (one /64 each)."""
    if k % 2 == 0:
        return str(ipaddress.IPv4Address(0x0A000000 + k // 2))
    return str(ipaddress.IPv6Address((0x20010DB8 << 96) | ((k // 2) << 64) | 1))


def auth(token, client):
    return (
        "GET /auth HTTP/1.1\r\nHost: bench\r\n"
        f"Authorization: Bearer {token}\r\n"
        "X-Original-Method: GET\r\nX-Original-URI: /api/reports/1\r\n"
        f"X-Forwarded-For: {client}\r\n\r\n"
    ).encode()


def revoke(token, client):
    body = urllib.parse.urlencode({"token": token})
    return (
        "POST /revoke HTTP/1.1\r\nHost: bench\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Forwarded-For: {client}\r\n\r\n{body}"
    ).encode()


def memory(pid):
    """VmRSS and VmHWM of the process, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


async def answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        if name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("a chunked answer: this client reads Content-Length only")
    if length:
        await reader.readexactly(length)
    return int(head[9:12])


async def send_all(requests, connections, statuses):
    """Sends every request of the iterator, over `connections` keep-alive connections."""

    async def one_connection():
        reader, writer = await asyncio.open_connection(HOST, PORT)
        for request in requests:
            writer.write(request)
            await writer.drain()
            statuses[await answer(reader)] += 1
        writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))


async def phase(name, kind, requests, pid):
    statuses = collections.Counter()
    largest = 0
    done = asyncio.Event()

    async def sample():
        nonlocal largest
        while not done.is_set():
            largest = max(largest, memory(pid)[0])
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    await send_all(iter(requests), CONNECTIONS[kind], statuses)
    done.set()
    await sampler
    rss, hwm = memory(pid)
    largest = max(largest, rss)
    took = time.monotonic() - started
    answers = ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
    print(
        f"{name}: {sum(statuses.values())} requests in {took:.1f} s ({answers}); "
        f"RSS up to {largest / 1024:.1f} MiB, peak so far {hwm / 1024:.1f} MiB"
    )
    return hwm


async def main():
    global PORT
    port, pid, secrets_file, addresses, revoke_addresses, revoked = sys.argv[1:7]
    PORT, pid = int(port), int(pid)
    addresses, revoke_addresses, revoked = int(addresses), int(revoke_addresses), int(revoked)
    with open(secrets_file) as f:
        tokens = f.read().split()
    rss, hwm = memory(pid)
    print(f"started: RSS {rss / 1024:.1f} MiB, peak {hwm / 1024:.1f} MiB")
    await phase(
        "1. /auth, every token and address",
        "auth",
        (auth(tokens[k % len(tokens)], address(k)) for k in range(addresses)),
        pid,
    )
    await phase(
        "2. /revoke from new addresses",
        "revoke",
        (revoke("not-a-token", address(addresses + k)) for k in range(revoke_addresses)),
        pid,
    )
    await phase(
        "3. /revoke of tokens",
        "revoke",
        (revoke(t, address(k // 20)) for k, t in enumerate(tokens[len(tokens) - revoked :])),
        pid,
    )
    await phase(
        "4. /auth, every token again",
        "auth",
        (auth(t, address(k)) for k, t in enumerate(tokens)),
        pid,
    )
    await asyncio.sleep(3)
    rss, hwm = memory(pid)
    print(f"after 3 s (usage flushed): RSS {rss / 1024:.1f} MiB, peak {hwm / 1024:.1f} MiB")
    print(f"PEAK_MIB {hwm / 1024:.1f}")


asyncio.run(main())
