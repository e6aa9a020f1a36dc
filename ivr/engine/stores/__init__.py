"""Session stores: where live calls are kept between webhooks (memory, or Redis for many processes).

Both keep JSON text under templated keys (`ivr:call:{sid}`, `ivr:plan:{version}`) with a TTL,
and give a per-call lock so that two turns of one call never interleave.
"""

from __future__ import annotations

from ivr.engine.stores.base import CALL_KEY, LOCK_KEY, PLAN_KEY, SessionStore
from ivr.engine.stores.memory import MemoryStore


def open_store(url: str | None = None, **kwargs) -> SessionStore:
    """`memory://` (default) or `redis://host:port/db`."""
    if not url or url.startswith("memory:"):
        return MemoryStore(**kwargs)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from ivr.engine.stores.redis_store import RedisStore

        return RedisStore.from_url(url, **kwargs)
    raise ValueError(f"unknown session store URL '{url}': use memory:// or redis://HOST:PORT/DB")


__all__ = ["CALL_KEY", "LOCK_KEY", "PLAN_KEY", "MemoryStore", "SessionStore", "open_store"]
