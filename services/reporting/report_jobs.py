"""Reports made once per state of the read models, and the large ones in the background.

A report is a function of the read models, the day and what was asked (unit, period,
language, the signer's fields): kept under that key (`page_cache.data_version` names
how far each source has been applied), it is made once and served again until an
event moves a watermark. A large one (a province's year) is made by a background
thread (`threading`: a green thread under the services' eventlet, a real one
elsewhere) while the reader's page polls its job; the job records its steps as they
finish. (The routes print on a real thread: `report_entrypoints.off_the_hub`.) Jobs
and reports live in the process's memory: a restart forgets them, and the next request
makes the report again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Made:
    body: bytes
    content_type: str
    filename: str


@dataclass
class Job:
    job_id: str
    key: Hashable
    owner: str  # the account that asked: only it sees the job
    title: str
    total_steps: int
    done_steps: int = 0
    state: str = "running"  # running, done, failed
    made: Made | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def step(self) -> None:
        with self.lock:
            self.done_steps = min(self.done_steps + 1, self.total_steps)

    def status(self) -> dict[str, object]:
        with self.lock:
            return {"job_id": self.job_id, "state": self.state, "title": self.title,
                    "done_steps": self.done_steps, "total_steps": self.total_steps,
                    "filename": self.made.filename if self.made else None}


Produce = Callable[[Callable[[], None]], Made]


class ReportJobs:
    """The reports made (by key) and the jobs making them (by id), the `size` most
    recent of each."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._by_key: OrderedDict[Hashable, Job] = OrderedDict()

    def _remember(self, job: Job) -> None:
        self._jobs[job.job_id] = job
        self._by_key[job.key] = job
        for kept in (self._jobs, self._by_key):
            while len(kept) > self.size:
                kept.popitem(last=False)

    def made(self, key: Hashable) -> Made | None:
        with self._lock:
            job = self._by_key.get(key)
            return job.made if job is not None and job.state == "done" else None

    def make_now(self, key: Hashable, owner: str, title: str, produce: Produce) -> Made:
        """The report for `key`, made here and now unless it was made already."""
        kept = self.made(key)
        if kept is not None:
            return kept
        job = Job(uuid.uuid4().hex, key, owner, title, total_steps=1)
        made = produce(lambda: None)
        job.made, job.state, job.done_steps = made, "done", 1
        with self._lock:
            self._remember(job)
        return made

    def start(self, key: Hashable, owner: str, title: str, steps: int,
              produce: Produce) -> Job:
        """A job making the report for `key` in the background; the running or finished
        job of the same key and owner when there is one (asked twice, made once)."""
        with self._lock:
            job = self._by_key.get(key)
            if job is not None and job.state != "failed" and job.owner == owner:
                return job
            job = Job(uuid.uuid4().hex, key, owner, title, total_steps=steps)
            self._remember(job)
        threading.Thread(target=self._run, args=(job, produce), daemon=True,
                         name=f"report-{job.job_id[:8]}").start()
        return job

    def _run(self, job: Job, produce: Produce) -> None:
        try:
            made = produce(job.step)
        except Exception:
            _log.exception("the report %s (%s) failed", job.job_id, job.title)
            with job.lock:
                job.state = "failed"
            return
        with job.lock:
            job.made, job.state, job.done_steps = made, "done", job.total_steps

    def get(self, job_id: str, owner: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None


JOBS = ReportJobs()
