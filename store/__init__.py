"""Where txmon keeps its shared state: Redis (one server or a Redis Cluster).

``store.keys`` names every key and its slot; ``store.client`` builds the client and reads
across slots. ``streams`` and ``alerts`` use it; it imports neither, nor ``rules``.
"""

from store.client import Pipe, RedisClient, connect, get_many, is_cluster
from store.keys import Keys

__all__ = ["Keys", "Pipe", "RedisClient", "connect", "get_many", "is_cluster"]
