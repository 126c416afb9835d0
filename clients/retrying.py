"""How the clients (`chibo simulate`, `chibo import members`) ride out an outage.

Every command they send carries its own command id, so sending it again is safe: the
service acts on it once and answers a repeat with the first answer. A failure that
passes by itself is therefore retried, with the same id, until it goes through or the
policy's time runs out:

* over HTTP, `502`, `503` and `504` (a service that cannot reach its database or the
  broker answers 503 with `Retry-After`, which is honoured), a refused or cut
  connection, a timeout;
* over RPC, the retryable `ServiceUnavailable`, and the loss of the broker connection
  (`ConnectionRefusedError` from the reply queue, kombu's `OperationalError`, an RPC
  timeout), after which the caller connects again.

Anything else (a refusal, a bad request, a bug) is not retried: sending it again would
get the same answer.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

log = logging.getLogger(__name__)

#: HTTP statuses a later try may not get: a proxy or a service briefly unavailable.
TRANSIENT_STATUSES = frozenset({502, 503, 504})
#: The name nameko gives, in a RemoteError, to the services' retryable error.
UNAVAILABLE = "ServiceUnavailable"


class TransientFailure(Exception):
    """An answer that says "try again": a 502/503/504 response, kept with the wait the
    server asked for (`Retry-After`, seconds) and a description for the last word."""

    def __init__(self, description: str, retry_after: float | None = None,
                 response: Any = None) -> None:
        super().__init__(description)
        self.retry_after = retry_after
        self.response = response


def retry_after_seconds(response: Any) -> float | None:
    """`Retry-After` in seconds (the services send seconds; an HTTP date is ignored)."""
    value = (getattr(response, "headers", None) or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def transient_response(response: Any) -> TransientFailure | None:
    """The failure to retry for an HTTP response, or None when it is an answer."""
    status = int(response.status_code)
    if status not in TRANSIENT_STATUSES:
        return None
    return TransientFailure(f"HTTP {status}", retry_after_seconds(response), response)


def is_transient(error: BaseException) -> bool:
    """True for a failure that sending the same command again may get past."""
    if isinstance(error, TransientFailure):
        return True
    if getattr(error, "exc_type", None) == UNAVAILABLE:  # nameko's RemoteError
        return True
    if type(error).__name__ == UNAVAILABLE:  # chibo.errors.ServiceUnavailable
        return True
    return is_connection_error(error)


def is_connection_error(error: BaseException) -> bool:
    """The connection to the service or the broker was refused, cut or timed out."""
    import requests

    if isinstance(error, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(error, ConnectionError | socket.timeout | TimeoutError):
        return True
    if type(error).__name__ == "RpcTimeout":  # nameko's standalone proxy gave up waiting
        return True
    try:
        import amqp.exceptions
        import kombu.exceptions
    except ImportError:  # pragma: no cover - they come with the services
        return False
    return isinstance(error, kombu.exceptions.OperationalError | amqp.exceptions.ConnectionError)


@dataclass(frozen=True)
class RetryPolicy:
    """Tries at most `attempts` times (None: no limit) within `seconds`, waiting between
    tries `initial`, doubling up to `maximum` seconds (with a little jitter), or as long
    as the server asked if that is longer (up to `maximum`)."""

    seconds: float = 300.0
    attempts: int | None = None
    initial: float = 0.5
    maximum: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    def retrying(self, retryable: Callable[[BaseException], bool] = is_transient,
                 on_retry: Callable[[BaseException, float], None] | None = None
                 ) -> tenacity.Retrying:
        stop: Any = tenacity.stop_after_delay(self.seconds)
        if self.attempts is not None:
            stop = stop | tenacity.stop_after_attempt(self.attempts)
        backoff = tenacity.wait_exponential_jitter(multiplier=self.initial, max=self.maximum,
                                                   jitter=self.initial)

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            asked = getattr(error, "retry_after", None) or 0.0
            return min(self.maximum, max(float(backoff(state)), float(asked)))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            if error is not None:
                log.warning("attempt %d failed (%s: %s); trying again in %.1f s",
                            state.attempt_number, type(error).__name__, error, delay)
                if on_retry is not None:
                    on_retry(error, delay)

        return tenacity.Retrying(retry=tenacity.retry_if_exception(retryable), stop=stop,
                                 wait=wait, sleep=self.sleep, before_sleep=before_sleep,
                                 reraise=True)

    def call(self, attempt: Callable[[], Any],
             retryable: Callable[[BaseException], bool] = is_transient,
             on_retry: Callable[[BaseException, float], None] | None = None) -> Any:
        """`attempt()` until it returns, a failure is not retryable, or the policy stops
        (the last failure is raised)."""
        return self.retrying(retryable, on_retry)(attempt)
