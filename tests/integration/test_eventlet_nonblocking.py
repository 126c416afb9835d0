"""The PostgreSQL driver cooperates with eventlet: a query waiting on the server
does not stop the hub, so other workers of the same service run meanwhile.

Ten RPC calls each run `pg_sleep(2)`. If the driver blocked the hub, one call
would hold the whole process while it sleeps and PostgreSQL would never see
more than one sleeping backend at a time. The test asserts that it sees all ten
at once: a concurrency assertion, not a timing one.
"""

import eventlet
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from chibo.nameko import memory
from chibo.nameko.providers import Database
from chibo.nameko.runtime import start_embedded

CALLS = 10
SLEEP_SQL = "SELECT pg_sleep(2)"


class SleeperService:
    name = "sleeper"

    db = Database()

    @rpc
    def sleep(self) -> int:
        with self.db.transaction() as session:
            session.execute(text(SLEEP_SQL))
            return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _sleeping_backends(conn) -> int:
    return int(conn.execute(text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND state = 'active' "
        "AND query = :sql AND pid <> pg_backend_pid()"), {"sql": SLEEP_SQL}).scalar_one())


def test_ten_pg_sleeps_run_at_once_in_one_service(pg_url):
    config = {"AMQP_URI": "chibomem://", "DATABASES": {"sleeper": pg_url}, "max_workers": 20}
    memory.reset()
    runner = start_embedded([SleeperService], config)
    watcher = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with ClusterRpcProxy(config, timeout=60) as proxy:
            replies = [proxy.sleeper.sleep.call_async() for _ in range(CALLS)]

            most_seen = 0
            deadline = eventlet.hubs.get_hub().clock() + 20.0
            with watcher.connect() as conn:
                while most_seen < CALLS and eventlet.hubs.get_hub().clock() < deadline:
                    most_seen = max(most_seen, _sleeping_backends(conn))
                    eventlet.sleep(0.02)
            assert most_seen == CALLS, (
                f"at most {most_seen} of {CALLS} pg_sleep calls were running at once: "
                "the database driver is blocking eventlet's hub")

            pids = [reply.result() for reply in replies]
        assert len(set(pids)) == CALLS  # each call had its own connection
    finally:
        watcher.dispose()
        runner.kill()
        memory.reset()
