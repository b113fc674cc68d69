"""The aggregator's HTTP API for sessions, on the same server as ``/metrics``.

Routes (JSON unless noted):

- ``GET /sessions``: open sessions (live counts) then ended ones, newest first (up to 100);
- ``GET /sessions/open`` and ``GET /sessions/ended``: only one kind;
- ``GET /sessions/{id}``: the stored summary of an ended session, or the live
  view of an open one (``"state": "open"``, with its active tracks);
- ``GET /sessions/{id}/timeline.png``: stacked emotion shares over time,
  rendered from the stored summary (or from the live counts of an open session),
  once per content, from a bounded cache (``charts``).

The worker's HTTP server hands handlers the path only, so filters are path
segments rather than query parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from emostream.aggregator.charts import ChartCache
from emostream.aggregator.queries import SessionQueries
from emostream.config import Config
from emostream.infra.httpserver import Response, WorkerHttpServer, json_response
from emostream.streams.connection import connect
from emostream.streams.keys import Keys

log = logging.getLogger(__name__)

SESSIONS = "/sessions"


def not_found(what: str) -> Response:
    return json_response({"error": f"{what} not found"}, 404)


class SessionsApi:
    def __init__(self, queries: SessionQueries, charts: ChartCache | None = None) -> None:
        self.queries = queries
        self.charts = charts or ChartCache()

    def register(self, server: WorkerHttpServer) -> None:
        server.add(SESSIONS, self.list_all)
        server.add(SESSIONS + "/", self.route, prefix=True)

    def list_all(self, _path: str) -> Response:
        return json_response({"sessions": self.queries.list_all()})

    def route(self, path: str) -> Response:
        rest = path[len(SESSIONS) + 1 :].strip("/")
        if rest == "":
            return self.list_all(path)
        if rest == "open":
            return json_response({"sessions": self.queries.list_open()})
        if rest == "ended":
            return json_response({"sessions": self.queries.list_ended()})
        session, _, tail = rest.partition("/")
        summary = self.queries.get(session)
        if summary is None:
            return not_found(f"session {session!r}")
        if tail == "":
            return json_response(summary)
        if tail == "timeline.png":
            png = self.charts.png(summary)
            if png is None:
                return json_response({"error": "busy drawing charts, try again"}, 503)
            return 200, "image/png", png
        return not_found(path)


def serve_sessions(server: WorkerHttpServer, config: Config, keys: Keys, clock: Callable[[], float]) -> None:
    """The sessions API and, when enabled, the live page, on the aggregator's server.

    HTTP clients read through a Redis client of their own: however many viewers and API
    calls, they never take a connection from the pool the work loop needs (handler threads
    are bounded). At most one connection per handler thread (redis-py 8 raises past its
    default of 100), per node on a cluster.
    """
    http_client = connect(config.redis, check=False, max_connections=max(100, config.http.max_connections + 4))
    SessionsApi(SessionQueries(http_client, keys, config.aggregator.chart_bucket_s, clock)).register(server)
    if config.web.enabled:  # the live page; imported only when wanted (it pulls in OpenCV)
        from emostream.viewer.web import WebView

        WebView(http_client, keys, share_window_s=config.web.share_window_s).register(server)
        log.info("aggregator: live web view on http://%s:%d/", config.http.host, server.port)
