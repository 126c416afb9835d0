"""nameko dependency providers: the database, the event store, the clock, the relay, feeds.

Each worker gets its own session. Work is committed inside the entrypoint's own
call: nameko sends the RPC reply (or acks the event) before it calls
`worker_result`, so a commit failing there would be invisible to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import eventlet
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.timer import timer
from sqlalchemy import Engine, MetaData, func, select
from sqlalchemy.orm import Session, sessionmaker

from chibo import metrics, settings
from chibo.access import Access
from chibo.clock import Clock, clock_from_setting
from chibo.contracts import Catalogue
from chibo.db import make_engine, session_factory
from chibo.eventstore import audit, checkpoint
from chibo.eventstore.feed import Envelope, OrderedFeed, Projector, RunProjector
from chibo.eventstore.keys import service_keyring, service_signer
from chibo.eventstore.relay import Relay
from chibo.eventstore.store import EventStore, Metadata, RecordedEvent
from chibo.eventstore.tables import event_head
from chibo.eventstore.tables import events as events_table
from chibo.group_commit import GroupCommit
from chibo.migrate import migrate, scripts_for
from chibo.nameko import rejections
from chibo.nameko.access import Caller, WorkerCaller, access
from chibo.nameko.resilience import rpc

log = logging.getLogger(__name__)

# An RPC worker's expected 4xx exception is one log line, not a traceback.
rejections.install()

DATABASES_KEY = "DATABASES"


def database_url(config: dict[str, Any], service_name: str) -> str:
    """The service's database URL; MissingSetting (naming the variable) when the config
    reads it from an unset environment variable."""
    url = settings.required_database(config, service_name)
    if url is None:
        raise KeyError(f"no database configured for {service_name!r}: set "
                       f"{DATABASES_KEY}.{service_name} in the configuration")
    return url


def _find(container: Any, kind: type) -> Any:
    for dependency in container.dependencies:
        if isinstance(dependency, kind):
            return dependency
    return None


class Database(DependencyProvider):
    """One engine per service; a session per worker, closed when the worker ends."""

    def __init__(self, *metadatas: MetaData) -> None:
        self.metadatas = metadatas
        # Both made by setup(), before any worker runs.
        self.engine: Engine | None = None
        self.factory: sessionmaker[Session] | None = None
        self.group_commit: GroupCommit | None = None
        self.sessions: dict[Any, Session] = {}

    def setup(self) -> None:
        # A required setting left unset stops the service here, before nameko connects.
        settings.require_broker(self.container.config, self.container.service_name)
        url = database_url(self.container.config, self.container.service_name)
        self.engine = engine = make_engine(url, pool_size=self.container.max_workers + 4)
        # To head under a lock on the database: instances starting at once wait in turn.
        migrated = migrate(engine, self.container.service_name, self.metadatas,
                           scripts_for(self.container.service_cls))
        log.info("schema: %s", migrated.describe())
        for notice in migrated.notices:
            log.warning(notice)
        self.factory = session_factory(engine)
        # Commands' transactions that run at once commit together (chibo.group_commit).
        self.group_commit = GroupCommit(self.factory, name=self.container.service_name)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    kill = stop

    def session_for(self, worker_ctx: Any) -> Session:
        if worker_ctx not in self.sessions:
            assert self.factory is not None  # setup() runs before any worker
            self.sessions[worker_ctx] = self.factory()
        return self.sessions[worker_ctx]

    def get_dependency(self, worker_ctx: Any) -> WorkerDatabase:
        return WorkerDatabase(self, worker_ctx)

    def worker_teardown(self, worker_ctx: Any) -> None:
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.close()  # rolls back whatever the worker did not commit


class WorkerDatabase:
    def __init__(self, provider: Database, worker_ctx: Any) -> None:
        self._provider = provider
        self._worker_ctx = worker_ctx

    @property
    def session(self) -> Session:
        return self._provider.session_for(self._worker_ctx)

    @property
    def factory(self) -> Any:
        """Sessions of one's own, for work that must not share the worker's transaction."""
        return self._provider.factory

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit when the block ends, roll back if it raises."""
        session = self.session
        with session.begin():
            yield session


class ClockProvider(DependencyProvider):
    """The time, from config `CLOCK` ("system", a date, a timestamp, or a Clock object)."""

    def setup(self) -> None:
        # A bad setting stops the service at start-up, naming CHIBO_CLOCK.
        self.clock: Clock = clock_from_setting(self.container.config.get("CLOCK"))

    def get_dependency(self, worker_ctx: Any) -> Clock:
        return self.clock


class LoadedSettings(DependencyProvider):
    """Settings an application derives from the service config (`load(config)`), loaded
    and checked once when the service starts: a bad setting stops it there, not on the
    first request that needs it."""

    def __init__(self, load: Callable[[dict[str, Any]], Any]) -> None:
        self.load = load

    def setup(self) -> None:
        self.loaded = self.load(self.container.config)

    def get_dependency(self, worker_ctx: Any) -> Any:
        return self.loaded


def metadata_from_context(data: dict[str, Any], caller: WorkerCaller | None = None,
                          clock: Clock | None = None) -> Metadata:
    """Who asked and why: the verified caller (account id as the actor, with their
    name, kind and roles), and the command and correlation ids from nameko context data
    (HTTP headers, RPC context, events). No verified caller: "anonymous"."""
    identity = caller.identity if caller is not None else None
    if identity is None:
        actor, extra = "anonymous", {}
    else:
        day = (clock or clock_from_setting(None)).now().date()
        actor, extra = identity.account_id, identity.event_metadata(day)
    return Metadata(actor=actor, command_id=data.get("command_id"),
                    correlation_id=data.get("correlation_id"),
                    causation_id=data.get("causation_id"), extra=extra)


class EventSourcing(DependencyProvider):
    """The service's event store, bound to the worker's session and its metadata."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def setup(self) -> None:
        self.database: Database = _find(self.container, Database)
        self.clock: ClockProvider | None = _find(self.container, ClockProvider)
        if self.database is None:
            raise RuntimeError("EventSourcing needs a Database dependency on the same service")
        self.appended_by: set[Any] = set()
        # Every row the service appends is signed with its own key (chibo.eventstore.keys).
        self.signer = service_signer(self.container.config, self.container.service_name)

    def get_dependency(self, worker_ctx: Any) -> CommandContext:
        clock = self.clock.clock if self.clock else clock_from_setting(None)
        return CommandContext(self, worker_ctx, clock)

    def worker_teardown(self, worker_ctx: Any) -> None:
        if worker_ctx in self.appended_by:
            self.appended_by.discard(worker_ctx)
            relay = _find(self.container, OutboxRelay)
            if relay is not None:
                relay.wake()


class CommandContext:
    """What a command handler uses: load a stream, decide, append, commit."""

    def __init__(self, provider: EventSourcing, worker_ctx: Any, clock: Clock) -> None:
        self._provider = provider
        self._worker_ctx = worker_ctx
        self.clock = clock
        callers: Caller | None = _find(provider.container, Caller)
        #: Who calls (the pipeline's policy checks them); None in a service without Caller.
        self.caller = callers.get_dependency(worker_ctx) if callers is not None else None
        self.metadata = metadata_from_context(worker_ctx.data, self.caller, clock)
        self.source = provider.container.service_name
        #: True once the pipeline answered from the command log instead of running.
        self.replayed = False

    def store(self, session: Session) -> EventStore:
        return EventStore(session, self._provider.catalogue, self.clock, self.metadata,
                          self._provider.signer)

    @contextmanager
    def unit_of_work(self) -> Iterator[EventStore]:
        """One transaction for a command that reads and appends to several streams;
        commits when the block ends, writes nothing if it raises."""
        session = self._provider.database.session_for(self._worker_ctx)
        with session.begin():
            store = self.store(session)
            yield store
        self._appended(store)

    @contextmanager
    def command_transaction(self) -> Iterator[EventStore]:
        """A command's transaction: the same as `unit_of_work`, but shared with the
        service's other commands running at this moment, which commit together
        (chibo.group_commit). For work that only writes its own events and rows; reads
        that take long belong in `unit_of_work`, which holds no one up."""
        group = self._provider.database.group_commit
        assert group is not None  # the Database provider makes it in setup()
        with group.unit() as session:
            store = self.store(session)
            yield store
        self._appended(store)

    def _appended(self, store: EventStore) -> None:
        if store.appended:
            self._provider.appended_by.add(self._worker_ctx)
            metrics.EVENTS_APPENDED.labels(self.source).inc(len(store.appended))

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        session = self._provider.database.session_for(self._worker_ctx)
        with session.begin():
            return self.store(session).read_stream(stream_id)

    def read_envelopes(self, after: int, limit: int) -> list[Envelope]:
        """The log after `after`, as stored, for consumers healing a gap."""
        limit = max(1, min(int(limit), 5000))
        session = self._provider.database.session_for(self._worker_ctx)
        with session.begin():
            return [e.envelope(self.source, self._provider.catalogue)
                    for e in self.store(session).read_all(int(after), limit)]


class OutboxRelay(DependencyProvider):
    """Runs the relay for the service's log in the background of the service."""

    def __init__(self, batch_size: int = 500, idle_poll_seconds: float = 0.5,
                 gather_seconds: float = 0.005) -> None:
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        #: Woken by a command's commit, the relay waits this long for the commits of the
        #: commands running beside it, so a round publishes them together: each round
        #: costs a transaction and a confirm whether it carries one event or fifty.
        self.gather_seconds = gather_seconds
        self._wake = Event()
        self._running = False
        self._thread = None
        self.relay: Relay | None = None

    def setup(self) -> None:
        self.database: Database = _find(self.container, Database)

    def start(self) -> None:
        sourcing: EventSourcing = _find(self.container, EventSourcing)
        assert self.database.engine is not None  # nameko sets up every provider first
        self.relay = Relay(self.container.service_name, self.database.engine,
                           self.container.config["AMQP_URI"], sourcing.catalogue,
                           self.batch_size)
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._run)

    def wake(self) -> None:
        if not self._wake.ready():
            self._wake.send(True)

    def _run(self) -> None:
        backoff = 0.5
        while self._running:
            relay = self.relay
            assert relay is not None  # start() makes it before it spawns this thread
            try:
                if not relay.lead():
                    eventlet.sleep(2.0)
                    continue
                published = relay.publish_pending()
                backoff = 0.5
                if published < self.batch_size:
                    if self._wake.wait(timeout=self.idle_poll_seconds):
                        eventlet.sleep(self.gather_seconds)
                    self._wake = Event()
            except Exception:  # noqa: BLE001 - broker or database down: retry, never give up
                metrics.RELAY_FAILURES.labels(self.container.service_name).inc()
                log.warning("relay for %s failed; retrying in %.1fs",
                            self.container.service_name, backoff, exc_info=True)
                relay.reset()
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def stop(self) -> None:
        self._running = False
        self.wake()
        if self._thread is not None:
            self._thread.kill()
        if self.relay is not None:
            self.relay.close()

    kill = stop


class Feed(DependencyProvider):
    """An ordered feed of other services' events into this service's database.

    Use with one `@feed_handler(source, "#")` per source whose body is
    `self.<feed>.offer(envelope)`; the feed applies in order in the background,
    heals gaps from each source's log over RPC, and catches up when idle.

    While more than `high_water` events wait in its buffer (`backlogged`), the feed
    handlers' consumer holds its acks back, so the broker stops delivering once its
    prefetch is used and keeps the rest queued: a consumer that falls behind a burst (a
    roster import) takes the burst from the queue at its own pace, instead of filling
    its buffer until it drops events and reading them all again from the source's log.
    """

    def __init__(self, sources: Sequence[str], project: Projector, catalogue: Catalogue,
                 idle_catch_up_seconds: float = 2.0, gap_grace_seconds: float = 0.5,
                 project_run: RunProjector | None = None, gather_seconds: float = 0.01,
                 gather_events: int = 200, high_water: int = 5_000) -> None:
        self.high_water = high_water
        self.sources = list(sources)
        self.project = project
        self.project_run = project_run
        self.catalogue = catalogue
        self.idle_catch_up_seconds = idle_catch_up_seconds
        self.gap_grace_seconds = gap_grace_seconds
        self.gather_seconds = gather_seconds
        self.gather_events = gather_events
        self._wake = Event()
        self._running = False
        self._rpc_lock = Semaphore(1)
        self._rpc_context: ClusterRpcProxy | None = None
        self._rpc: Any = None
        self._rpc_token: str | None = None
        self.feed: OrderedFeed | None = None

    def start(self) -> None:
        # Built at start, not setup: nameko sets dependencies up in no fixed
        # order, and the database's session factory exists only after its setup.
        database: Database = _find(self.container, Database)
        assert database.factory is not None  # nameko sets up every provider first
        self.feed = OrderedFeed(self.container.service_name, self.sources, database.factory,
                                self.catalogue, self.project, self._fetch,
                                gap_grace_seconds=self.gap_grace_seconds,
                                project_run=self.project_run)
        self._running = True
        self.container.spawn_managed_thread(self._run)

    def get_dependency(self, worker_ctx: Any) -> Feed:
        return self

    def _started_feed(self) -> OrderedFeed:
        # start() makes it; nameko starts providers before any entrypoint or thread.
        assert self.feed is not None
        return self.feed

    def offer(self, envelope: Envelope) -> None:
        self._started_feed().offer(envelope)
        self._wake_loop()

    def backlogged(self) -> bool:
        """More events wait in the buffer than the feed should take from the bus now."""
        return self.feed is not None and self.feed.buffered() > self.high_water

    def _wake_loop(self) -> None:
        if not self._wake.ready():
            self._wake.send(True)

    def sync(self, source: str) -> int:
        """Apply everything `source`'s log has now: read-your-writes for a command
        that names something this replica may not have seen yet."""
        return self._started_feed().catch_up(source)

    def _fetch(self, source: str, after: int, limit: int) -> list[Envelope]:
        with self._rpc_lock:
            # The service reads other logs as itself: its own token, signed again
            # (and the proxy made again) when half of it is gone.
            caller: Caller | None = _find(self.container, Caller)
            token = caller.service_token() if caller is not None else None
            if self._rpc is not None and token != self._rpc_token:
                self._close_rpc()
            if self._rpc is None:
                self._rpc_context = ClusterRpcProxy(
                    self.container.config, timeout=30,
                    context_data={"identity": token} if token else None)
                self._rpc = self._rpc_context.start()
                self._rpc_token = token
            try:
                return getattr(self._rpc, source).read_events(after=after, limit=limit)
            except Exception:
                self._close_rpc()
                raise

    def _close_rpc(self) -> None:
        if self._rpc_context is not None:
            try:
                self._rpc_context.stop()
            except Exception:  # noqa: BLE001
                log.debug("closing the feed's RPC proxy failed", exc_info=True)
        self._rpc_context, self._rpc = None, None

    def _run(self) -> None:
        clock = eventlet.hubs.get_hub().clock
        quiet_since = float("-inf")  # catch up at once on start: the queue may be new
        while self._running:
            if self._started_feed().step():
                quiet_since = clock()
                self._gather(clock)
                continue
            if clock() - quiet_since >= self.idle_catch_up_seconds:
                self._started_feed().catch_up_all()
                quiet_since = clock()
                continue
            woken = self._wake.wait(timeout=0.05)
            self._wake = Event()
            if woken:
                self._gather(clock)  # the rest of the relay's burst is on its way

    def _gather(self, clock: Callable[[], float]) -> None:
        """Let the next run gather more events (up to `gather_events`, for at most
        `gather_seconds`): after a run while events keep coming, and when the first of
        a burst wakes the loop. A run's transaction and watermark lock cost the same for
        one event as for hundreds."""
        deadline = clock() + self.gather_seconds
        feed = self._started_feed()
        while self._running and feed.buffered() < self.gather_events:
            left = deadline - clock()
            if left <= 0:
                return
            self._wake.wait(timeout=left)
            self._wake = Event()

    def stop(self) -> None:
        # Not under the lock: a fetch in flight to a service already stopped
        # would hold it until its timeout.
        self._running = False
        self._wake_loop()
        self._close_rpc()

    kill = stop


#: How often a service writes its log's checkpoint (SIGNING.checkpoint_dir).
CHECKPOINT_SECONDS = 24 * 3600


#: Reading a service's log back and checking its chain: the application's permission
#: for the audit log, named here as a literal so the kernel imports no application.
LOG_PERMISSION = "view_audit"


class EventSource:
    """Mixin for a service whose log others consume: serves its log over RPC, which
    is how consumers heal gaps (as themselves: the service role) and how auditors read
    it (`LOG_PERMISSION`, whole tree). Expects the service's EventSourcing as `events`."""

    events: CommandContext

    #: Findings listed by `verify_log` at most; the first ones locate the damage.
    verify_findings_limit = 100

    @rpc
    @access(Access(LOG_PERMISSION))
    def read_events(self, after: int, limit: int = 500) -> list[Envelope]:
        return self.events.read_envelopes(after, limit)

    @rpc
    @access(Access(LOG_PERMISSION))
    def verify_log(self) -> dict[str, Any]:
        """The service checks its own hash chain, as `chibo audit verify` does, for an
        auditor that may not read this service's database.

        Returns `{"events": rows in the log, "head_position": the chain head's position,
        "findings": [text naming position and event id, ...]}`.
        """
        context = self.events
        session = context._provider.database.session_for(context._worker_ctx)
        with session.begin():
            if session.get_bind().dialect.name == "postgresql":
                # One snapshot for the whole walk: under READ COMMITTED a row committed
                # after the last batch but before the head is read looks deleted.
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            findings: list[str] = []
            provider = context._provider
            keyring = service_keyring(provider.container.config, provider.container.service_name)
            for finding in audit.verify_log(session, keyring=keyring):
                if len(findings) == self.verify_findings_limit:
                    findings.append("… further problems not listed: repair or inspect from "
                                    "the positions above.")
                    break
                findings.append(str(finding))
            count = session.execute(select(func.count()).select_from(events_table)).scalar_one()
            head = session.execute(select(event_head.c.position)
                                   .where(event_head.c.id == 1)).scalar()
        return {"events": int(count), "head_position": None if head is None else int(head),
                "findings": findings, "signatures_checked": bool(keyring)}

    @rpc
    @access(Access(LOG_PERMISSION))
    def check_checkpoint(self, text: str) -> dict[str, Any]:
        """Whether this log still holds what the checkpoint note `text` committed to:
        its signature by one of this service's keys, then the row at its size.
        `problems` is empty when it does."""
        context = self.events
        provider = context._provider
        service = provider.container.service_name
        try:
            note = checkpoint.parse(str(text))
            if note.service != service:
                raise checkpoint.BadCheckpoint(f"a checkpoint of {note.service}, not {service}")
            checkpoint.check_signature(note, service_keyring(provider.container.config,
                                                             service))
        except checkpoint.BadCheckpoint as error:
            return {"service": service, "size": None, "time": None, "problems": [str(error)]}
        session = provider.database.session_for(context._worker_ctx)
        with session.begin():
            problems = checkpoint.verify_against(session, note)
        return {"service": service, "size": note.size, "time": note.time,
                "problems": problems}

    @timer(interval=CHECKPOINT_SECONDS)
    def write_checkpoint(self) -> str | None:
        """Once a day, the log's signed checkpoint into `SIGNING.checkpoint_dir` when the
        configuration names one (a folder the database's administrators cannot write,
        e.g. one the inspection commission collects); None when it names none."""
        context = self.events
        provider = context._provider
        folder = (provider.container.config.get("SIGNING") or {}).get("checkpoint_dir")
        if not folder:
            return None
        session = provider.database.session_for(context._worker_ctx)
        with session.begin():
            note = checkpoint.make(session, provider.container.service_name, provider.signer,
                                   context.clock.now().isoformat(timespec="seconds"))
        path = Path(str(folder)) / f"{note.service}-{note.size}.checkpoint"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(note.text(), encoding="utf-8")
        return str(path)
