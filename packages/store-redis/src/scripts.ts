/*
 * The Lua scripts. Each runs atomically in Redis, so a commit, a reap or a lease
 * refresh is seen whole or not at all by every replica.
 *
 * Keys (all under the store's prefix):
 *   index        the global index, the same on every replica
 *   instances    hash: instance key → instance JSON
 *   commits      stream: one entry per commit (index, changes)
 *   epoch        a random id set when the catalog is first created; a different or
 *                missing epoch means Redis lost its data (restart without persistence)
 *   leases       sorted set: replica id → lease expiry (ms, Redis's own clock)
 *   held:<id>    set: the instance keys that replica's sources assert
 *   leader:<n>   lock string for elections (the reaper, and PluginContext.elect)
 *   nodes        hash: node name → the replica that runs it (one live replica a node)
 *   recovered    hash: replica id → the epoch it last re-asserted its state into
 *
 * Time comes from Redis's TIME, never from a replica's clock, so replicas on hosts
 * whose clocks differ still agree on which lease expired.
 */

/** The five keys COMMIT and REAP take, in order. */
export type CatalogKeys = readonly [index: string, instances: string, commits: string, epoch: string, leases: string];

/**
 * ARGV: base index, stream max length, epoch, held-set key of this replica,
 * held-set key prefix, number of asserted keys N, changes JSON, then N asserted
 * keys, then (key, value) pairs with '' for a removal.
 * Returns {1, index} committed, {0, index} nothing to change, {-1, index} Redis is
 * at another index, {-2, 0} the epoch differs (Redis lost its data).
 */
export const COMMIT = `
if redis.call('GET', KEYS[4]) ~= ARGV[3] then return {-2, 0} end
local current = tonumber(redis.call('GET', KEYS[1]) or '1')
if current ~= tonumber(ARGV[1]) then return {-1, current} end
local asserted = tonumber(ARGV[6])
for i = 8, 7 + asserted do redis.call('SADD', ARGV[4], ARGV[i]) end
if #ARGV == 7 + asserted then return {0, current} end
local index = current + 1
redis.call('SET', KEYS[1], index)
local replicas = nil
for i = 8 + asserted, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[2], ARGV[i])
    -- A removed instance is held by nobody any more.
    replicas = replicas or redis.call('ZRANGE', KEYS[5], 0, -1)
    for _, r in ipairs(replicas) do redis.call('SREM', ARGV[5] .. r, ARGV[i]) end
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'index', index, 'changes', ARGV[7])
return {1, index}
`;

/** A consistent cut: epoch, index, the stream position that goes with them, every instance. */
export const SNAPSHOT = `
local index = redis.call('GET', KEYS[1]) or '1'
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {redis.call('GET', KEYS[4]) or '', index, id, redis.call('HVALS', KEYS[2])}
`;

/**
 * KEYS: index, epoch. ARGV: a new epoch, the lowest index Redis may have.
 * Sets the epoch if there is none and raises the index to the minimum, so that
 * after Redis lost its data, indexes keep growing past what clients have seen
 * (a blocking query must never see the index go backwards).
 */
export const INIT = `
local epoch = redis.call('GET', KEYS[2])
if not epoch then epoch = ARGV[1]; redis.call('SET', KEYS[2], epoch) end
local index = tonumber(redis.call('GET', KEYS[1]) or '1')
if index < tonumber(ARGV[2]) then index = tonumber(ARGV[2]); redis.call('SET', KEYS[1], index) end
return {epoch, index}
`;

/** KEYS: index, epoch. Returns {epoch or '', index}. */
export const CHECK = `
return {redis.call('GET', KEYS[2]) or '', tonumber(redis.call('GET', KEYS[1]) or '1')}
`;

/**
 * KEYS: leases. ARGV: replica id, ttl ms. Returns {1 when the lease was not there
 * (first time, or reaped) else 0, the ids of every replica whose lease is live}.
 */
export const LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return {added, redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')}
`;

/**
 * KEYS: nodes, leases. ARGV: node, replica id, ttl ms. Claims the node for this
 * replica unless another replica whose lease is live holds it, and takes the lease
 * in the same step, so that two replicas starting at once cannot both see the node
 * free. Returns {1, '', 0} claimed, or {0, holder, ms its lease still runs}.
 */
export const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder and holder ~= ARGV[2] then
  local expiry = redis.call('ZSCORE', KEYS[2], holder)
  if expiry and tonumber(expiry) > now then return {0, holder, tonumber(expiry) - now} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
return {1, '', 0}
`;

/** KEYS: nodes. ARGV: node, replica id. Gives the node up, if this replica holds it (a clean stop). */
export const UNCLAIM = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`;

/**
 * KEYS: the five catalog keys. ARGV: held-set key prefix, stream max length, epoch.
 * For each replica whose lease expired: every instance it held that no live
 * replica also holds is removed, in one commit. Returns {index or 0, replicas reaped, instances removed}.
 */
export const REAP = `
if redis.call('GET', KEYS[4]) ~= ARGV[3] then return {0, 0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
if #dead == 0 then return {0, 0, 0} end
local live = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. now, '+inf')
local removed = {}
local seen = {}
for _, r in ipairs(dead) do
  for _, k in ipairs(redis.call('SMEMBERS', ARGV[1] .. r)) do
    if not seen[k] then
      seen[k] = true
      local kept = false
      for _, l in ipairs(live) do
        if redis.call('SISMEMBER', ARGV[1] .. l, k) == 1 then kept = true; break end
      end
      if not kept and redis.call('HDEL', KEYS[2], k) == 1 then table.insert(removed, {k, cjson.null}) end
    end
  end
  redis.call('DEL', ARGV[1] .. r)
  redis.call('ZREM', KEYS[5], r)
end
if #removed == 0 then return {0, #dead, 0} end
local index = tonumber(redis.call('GET', KEYS[1]) or '1') + 1
redis.call('SET', KEYS[1], index)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'index', index, 'changes', cjson.encode(removed), 'reaped', #dead)
return {index, #dead, #removed}
`;

/** KEYS: lock. ARGV: replica id, ttl ms. Returns 1 while this replica holds the lock. */
export const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
return 0
`;

/** KEYS: lock. ARGV: replica id. Releases the lock only if this replica holds it. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
