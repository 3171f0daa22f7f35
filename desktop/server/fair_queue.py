"""Admission and fair turns for the server's jobs (asyncio, one per ingress).

Admission bounds the jobs in flight, in all and per user, so a full server answers 429 at once
instead of holding connections for ever. Turns go round the users with waiting jobs: the next job is
the oldest of the user served longest ago, so a user's batch of eight waits behind another user's
single job instead of in front of it.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field


class QueueFull(Exception):
    """The server (or this user's share of it) is full; retry_after_s says when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(eq=False)
class Ticket:
    user: str
    turn: asyncio.Future = field(repr=False)
    running: bool = False
    finished: bool = False


class FairQueue:
    def __init__(self, slots: int, capacity: int, per_user: int, typical_job_s: float = 5.0) -> None:
        """slots: jobs that run at once (one per replica); capacity: jobs in flight in all."""
        self.slots, self.capacity, self.per_user = slots, capacity, per_user
        self._running = 0
        self._in_flight: dict[str, int] = {}
        self._waiting: OrderedDict[str, deque[Ticket]] = OrderedDict()  # by arrival of their first job
        # When each user with jobs in flight last got a turn (a counter: later is larger).
        self._served: dict[str, int] = {}
        self._turns = 0
        # A running average of how long a job holds its slot, for Retry-After.
        self._job_s = typical_job_s

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def admit(self, user: str) -> Ticket:
        """A ticket for one job of user's, or QueueFull."""
        mine = self._in_flight.get(user, 0)
        if mine >= self.per_user:
            raise QueueFull(
                f"you already have {mine} jobs on this server, its limit per user: "
                "wait for one to finish, then send the next.",
                self.retry_after_s(),
            )
        if self.in_flight >= self.capacity:
            raise QueueFull(
                f"the server is full ({self.capacity} jobs running or waiting): try again in a moment.",
                self.retry_after_s(),
            )
        self._in_flight[user] = mine + 1
        ticket = Ticket(user, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(user, deque()).append(ticket)
        self._dispatch()
        return ticket

    async def wait_turn(self, ticket: Ticket) -> None:
        """Return when the ticket's job may run (a slot is free and it is its user's turn)."""
        await asyncio.shield(ticket.turn)

    def done(self, ticket: Ticket, seconds: float | None = None) -> None:
        """The job finished, failed or was given up (its client left); frees its place. Idempotent."""
        if ticket.finished:
            return
        ticket.finished = True
        self._in_flight[ticket.user] -= 1
        if not self._in_flight[ticket.user]:
            del self._in_flight[ticket.user]
            self._served.pop(ticket.user, None)
        if ticket.running:
            self._running -= 1
            if seconds is not None:
                self._job_s = 0.8 * self._job_s + 0.2 * seconds
        else:
            queue = self._waiting.get(ticket.user)
            if queue is not None and ticket in queue:
                queue.remove(ticket)
                if not queue:
                    del self._waiting[ticket.user]
            if not ticket.turn.done():
                ticket.turn.cancel()
        self._dispatch()

    def retry_after_s(self) -> int:
        """Seconds until a place is likely free: the jobs ahead, shared over the slots."""
        ahead = self.waiting + 1
        return max(1, min(60, math.ceil(self._job_s * ahead / max(1, self.slots))))

    def _dispatch(self) -> None:
        while self._running < self.slots and self._waiting:
            # The waiting user served longest ago (never: first); ties go by arrival.
            user = min(self._waiting, key=lambda u: self._served.get(u, -1))
            queue = self._waiting[user]
            ticket = queue.popleft()
            if not queue:
                del self._waiting[user]
            self._turns += 1
            self._served[user] = self._turns
            ticket.running = True
            self._running += 1
            ticket.turn.set_result(None)
