"""R6b's shared store: every account's visits to each foreign IP, across all workers.

One hash per IP (``store.keys.Keys.ip_accounts``: one slot per IP, so it works on a Redis
Cluster): field = account, value = its visits as JSON ``[[start_ms, end_ms, event_id,
event_type], ...]``. A batch's visits are merged by one Lua script per IP that adds them
and returns the whole hash in one atomic step, so two workers never miss each other's
accounts. The script is ``rules.ip_cluster.merge_ip`` in Lua (same coalescing, same
bounds); merging is order-free and idempotent, so a redelivered batch merges the same
visits again harmlessly. The key expires ``IP_RETENTION_MS`` after its last write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from rules.ip_cluster import MAX_VISITS, Episode, IpVisits
from rules.state import IP_RETENTION_MS, MAX_IP_ACCOUNTS
from store import RedisClient
from store.keys import Keys

# KEYS[1]: the IP's hash. ARGV: window ms, retention ms, max accounts, max visits, the
# batch's visits as JSON {account: [[start, end, id, type], ...]}. Returns HGETALL after.
MERGE_LUA = """
local W, keep, max_accounts, max_visits = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function lt(a, b)  -- byte order, as Python compares str (Lua's < follows the locale)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function merge(list)
  table.sort(list, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return lt(a[3], b[3])
  end)
  local out = {}
  for _, v in ipairs(list) do
    local last = out[#out]
    if last ~= nil and v[1] - last[2] < W then
      if v[2] > last[2] then last[2] = v[2] end
    else
      out[#out + 1] = {v[1], v[2], v[3], v[4]}
    end
  end
  local first = math.max(1, #out - max_visits + 1)
  local kept = {}
  for i = first, #out do kept[#kept + 1] = out[i] end
  return kept
end
local flat = redis.call('HGETALL', KEYS[1])
local visits, changed = {}, {}
for i = 1, #flat, 2 do visits[flat[i]] = cjson.decode(flat[i + 1]) end
for account, new in pairs(cjson.decode(ARGV[5])) do
  local all = visits[account] or {}
  for _, v in ipairs(new) do all[#all + 1] = v end
  visits[account] = merge(all)
  changed[account] = true
end
local newest = nil
for _, vs in pairs(visits) do
  local e = vs[#vs][2]
  if newest == nil or e > newest then newest = e end
end
local accounts = {}
for account, vs in pairs(visits) do
  local recent = {}
  for _, v in ipairs(vs) do if v[2] > newest - keep then recent[#recent + 1] = v end end
  if #recent < #vs then changed[account] = true end
  if #recent > 0 then
    visits[account] = recent
    accounts[#accounts + 1] = account
  else
    visits[account] = nil
  end
end
table.sort(accounts, function(a, b)
  local x, y = visits[a][#visits[a]][2], visits[b][#visits[b]][2]
  if x ~= y then return x > y end
  return lt(a, b)
end)
for i = max_accounts + 1, #accounts do visits[accounts[i]] = nil end
for account, _ in pairs(changed) do
  if visits[account] == nil then
    redis.call('HDEL', KEYS[1], account)
  else
    redis.call('HSET', KEYS[1], account, cjson.encode(visits[account]))
  end
end
for i = 1, #flat, 2 do
  if visits[flat[i]] == nil then redis.call('HDEL', KEYS[1], flat[i]) end
end
redis.call('PEXPIRE', KEYS[1], keep)
return redis.call('HGETALL', KEYS[1])
"""

_visits = msgspec.json.Decoder(list[tuple[int, int, str, str]])


class IpAccountStore:
    def __init__(self, redis: RedisClient, prefix: str = "txmon:") -> None:
        self.redis = redis
        self.keys = Keys(prefix)

    def queue_merge(self, pipe: Any, updates: Mapping[str, IpVisits], window_ms: int) -> list[str]:
        """Queue one merge-and-read script per IP of the batch; returns the IPs in reply order."""
        ips = list(updates)
        for ip in ips:
            batch = {a: [list(v) for v in vs] for a, vs in updates[ip].items()}
            pipe.eval(
                MERGE_LUA,
                1,
                self.keys.ip_accounts(ip),
                window_ms,
                IP_RETENTION_MS,
                MAX_IP_ACCOUNTS,
                MAX_VISITS,
                msgspec.json.encode(batch),
            )
        return ips

    @staticmethod
    def unpack(ips: Sequence[str], replies: Sequence[Any]) -> dict[str, IpVisits]:
        out: dict[str, IpVisits] = {}
        for ip, flat in zip(ips, replies, strict=True):
            pairs = dict(zip(flat[::2], flat[1::2], strict=True)) if isinstance(flat, list) else flat
            out[ip] = {_text(a): [_as_episode(v) for v in _visits.decode(raw)] for a, raw in pairs.items()}
        return out

    async def merge(self, updates: Mapping[str, IpVisits], window_ms: int) -> dict[str, IpVisits]:
        pipe = self.redis.pipeline(transaction=False)
        ips = self.queue_merge(pipe, updates, window_ms)
        return self.unpack(ips, await pipe.execute()) if ips else {}

    async def visits(self, ip: str) -> IpVisits:
        """The visits stored for one IP (for the console and tests)."""
        raw = await self.redis.hgetall(self.keys.ip_accounts(ip))  # type: ignore[misc]
        return self.unpack([ip], [raw])[ip]


def _as_episode(v: tuple[int, int, str, str]) -> Episode:
    return (int(v[0]), int(v[1]), v[2], v[3])


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
