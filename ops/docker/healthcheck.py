"""Docker HEALTHCHECK of an emostream container: GET /healthz of its role(s) on loopback.

HEALTHZ_PORTS names the ports to ask (the role images set theirs: aggregator 9400,
ingest 9401, classifier 9402; the all-roles image asks all three). A port that
refuses the connection runs no role here and is passed over; every port that
answers must answer 200, and at least one must answer. Standard library only,
so the image needs no curl; proxies are ignored (the target is loopback).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe(port: int, timeout: float = 4.0) -> bool | None:
    """True for a 200 from /healthz, False for any other answer, None when nothing listens."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False
    except urllib.error.URLError as exc:
        return None if isinstance(exc.reason, ConnectionRefusedError) else False
    except OSError:
        return False


def main() -> int:
    ports = [int(p) for p in os.environ.get("HEALTHZ_PORTS", "9400 9401 9402").split()]
    answers = {port: probe(port) for port in ports}
    healthy = [p for p, ok in answers.items() if ok]
    unhealthy = [p for p, ok in answers.items() if ok is False]
    print(f"healthz ok: {healthy or 'none'}; failing: {unhealthy or 'none'}")
    return 0 if healthy and not unhealthy else 1


if __name__ == "__main__":
    sys.exit(main())
