"""Serve reporting alone: `python -m bench._serve_reporting DB_URL PORT AMQP_URI KEYS_DIR`.

Used by the dashboard benchmark; the other services are not running, so reporting's
feed finds no sources to read and only the pages and the JSON API are exercised. It
runs on RabbitMQ: the feed's calls to the absent sources then wait without holding up
the pages. It verifies its callers' tokens with the benchmarks' secret and keeps its
signing key in KEYS_DIR (made on first start).
"""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import signal  # noqa: E402
import sys  # noqa: E402

from bench._support import secured  # noqa: E402
from chibo import settings  # noqa: E402
from chibo.nameko.runtime import start_embedded  # noqa: E402
from services.app import CONFIG_DIR  # noqa: E402
from services.reporting.entrypoints import ReportingService  # noqa: E402


def main() -> None:
    url, port, amqp, keys_dir = sys.argv[1:5]
    config = secured(settings.load(CONFIG_DIR / "embedded.yaml"), keys_dir)
    config.update(DATABASES={"reporting": url}, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}",
                  AMQP_URI=amqp, max_workers=40)
    runner = start_embedded([ReportingService], config)
    stop = eventlet.event.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.send(None))
    stop.wait()
    runner.stop()


if __name__ == "__main__":
    main()
