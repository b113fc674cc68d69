"""Which local addresses a TCP port is listening on, read from /proc/net/tcp{,6} (Linux)."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

LISTEN = "0A"


def _address(hex_ip: str) -> str:
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(struct.pack("<I", int(hex_ip, 16))))
    # IPv6: four 32-bit words, each in host (little-endian) order.
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    return str(ipaddress.IPv6Address(b"".join(words)))


def listening_addresses(port: int) -> set[str]:
    """Every local address with a socket in LISTEN state on ``port``."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        pytest.skip("no /proc/net/tcp: the bind-address checks need Linux")
    found = set()
    for table in tables:
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            parts = line.split()
            local, state = parts[1], parts[3]
            hex_ip, hex_port = local.split(":")
            if state == LISTEN and int(hex_port, 16) == port:
                found.add(_address(hex_ip))
    return found
