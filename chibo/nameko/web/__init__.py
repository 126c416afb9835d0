"""One HTTP listener per process for nameko services, with JSON entrypoints.

chibo runs its services either one per process or all together in one process
(several containers in one :class:`nameko.runners.ServiceRunner`). Stock nameko's
``WebServer`` is a ``SharedExtension`` shared only *within one container*, so two
containers in one process would each try to bind ``WEB_SERVER_ADDRESS``. Here:

* :class:`ProcessWebServer` is shared by every container in the process that has the
  same bind address. It opens the socket when the first container starts and closes it
  when the last one stops or is killed, and it routes each request to the entrypoint
  that owns the URL, so the request still runs as a worker of *that* container.
* Because a shared extension is started and stopped anonymously (nameko does not say
  which container calls ``start()``/``stop()``), each container also binds a
  :class:`ProcessWebServerLease`. The lease knows its container and is stopped only
  after that container's workers have finished, which makes it the right point to
  release the listener without cutting off responses still being written.
* ``GET /healthz`` and ``GET /metrics`` are answered by the server itself, so every
  process exposes them whatever services it runs.
* :class:`JsonHttpEntrypoint` (``http``) turns return values and exceptions into JSON.
* The server bounds what one client may cost (:mod:`chibo.nameko.web.limits`: body
  size, header and body deadlines, connections) and adds security headers to every
  response (:mod:`chibo.nameko.web.security_headers`).
"""

from chibo.nameko.web.entrypoint import JsonHttpEntrypoint, http
from chibo.nameko.web.json_http import (
    CONTEXT_HEADERS,
    JSON_CONTENT_TYPE,
    BadJsonBody,
    ClientError,
    context_data_from_headers,
    json_response,
    read_json,
)
from chibo.nameko.web.server import (
    DEFAULT_WEB_SERVER_ADDRESS,
    HTTP_REQUEST_SECONDS,
    HTTP_REQUESTS,
    ProcessWebServer,
    ProcessWebServerLease,
    started_service_names,
)

__all__ = [
    "CONTEXT_HEADERS",
    "DEFAULT_WEB_SERVER_ADDRESS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "JSON_CONTENT_TYPE",
    "BadJsonBody",
    "ClientError",
    "JsonHttpEntrypoint",
    "ProcessWebServer",
    "ProcessWebServerLease",
    "context_data_from_headers",
    "http",
    "json_response",
    "read_json",
    "started_service_names",
]

