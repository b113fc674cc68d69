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

from emostream.aggregator.charts import ChartCache
from emostream.aggregator.queries import SessionQueries
from emostream.infra.httpserver import Response, WorkerHttpServer, json_response

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
