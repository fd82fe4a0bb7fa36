// The Lua scripts of the Redis store. Each runs atomically inside Redis: no other client's
// command runs between two of its calls, which is what makes claim() safe across servers.
//
// Layout under the prefix P (ARGV[1] of every script; all keys contain it, so a hash-tagged
// prefix such as `{geartrain}:` keeps them in one Redis Cluster slot):
//   P job:<id>       hash of the record's fields; a null field is absent
//   P updated        zset id → updatedAt                  list(), since
//   P state:<state>  zset id → updatedAt                  list({state}), prune
//   P fn:<fn>        zset id → updatedAt                  list({fn})
//   P lease          zset pending id → leaseUntil, or -inf when it has no owner   claim
//   P owner:<owner>  zset pending id → leaseUntil          claim (own jobs), renew, release

const PRELUDE = `
local P = ARGV[1]
local PENDING = { queued = true, running = true, failed = true }

local function jobKey(id) return P .. 'job:' .. id end

-- The fields the indexes are built from, or nil if there is no such job.
local function indexed(key)
  local v = redis.call('HMGET', key, 'state', 'fn', 'owner', 'updatedAt', 'createdAt', 'leaseUntil')
  if not v[1] then return nil end
  return { state = v[1], fn = v[2], owner = v[3], updatedAt = v[4], createdAt = v[5], leaseUntil = v[6] }
end

-- Move a job's index entries from what it was (o, nil for a new job) to what it is (n).
local function reindex(id, o, n)
  if o then
    if o.state ~= n.state then redis.call('ZREM', P .. 'state:' .. o.state, id) end
    if o.fn ~= n.fn then redis.call('ZREM', P .. 'fn:' .. o.fn, id) end
    if PENDING[o.state] then
      if not PENDING[n.state] then redis.call('ZREM', P .. 'lease', id) end
      if o.owner and (o.owner ~= n.owner or not PENDING[n.state]) then redis.call('ZREM', P .. 'owner:' .. o.owner, id) end
    end
  end
  redis.call('ZADD', P .. 'updated', n.updatedAt, id)
  redis.call('ZADD', P .. 'state:' .. n.state, n.updatedAt, id)
  redis.call('ZADD', P .. 'fn:' .. n.fn, n.updatedAt, id)
  if PENDING[n.state] then
    if n.owner then
      redis.call('ZADD', P .. 'lease', n.leaseUntil, id)
      redis.call('ZADD', P .. 'owner:' .. n.owner, n.leaseUntil, id)
    else
      redis.call('ZADD', P .. 'lease', '-inf', id)
    end
  end
end
`;

/**
 * ARGV: P, then per change: op ('i' insert | 'u' update), id, n, n field/value pairs, m, m
 * fields set to null. The changes were checked before: nothing in here can fail half-way.
 * An insert replaces the whole hash; an update of a job that does not exist does nothing.
 */
export const WRITE = `${PRELUDE}
local i, last = 2, #ARGV
while i <= last do
  local op, id = ARGV[i], ARGV[i + 1]
  local nset = tonumber(ARGV[i + 2])
  local setFrom, setTo = i + 3, i + 2 + 2 * nset
  local nnull = tonumber(ARGV[setTo + 1])
  local nullFrom, nullTo = setTo + 2, setTo + 1 + nnull
  i = nullTo + 1
  local key = jobKey(id)
  local old = indexed(key)
  if op == 'i' or old then
    if op == 'i' and old then redis.call('DEL', key) end
    if nset > 0 then redis.call('HSET', key, unpack(ARGV, setFrom, setTo)) end
    if nnull > 0 then redis.call('HDEL', key, unpack(ARGV, nullFrom, nullTo)) end
    reindex(id, old, indexed(key))
  end
end
return 0
`;

/**
 * ARGV: P, owner, leaseUntil, now, limit, includeOwn ('1' | '0'). Jobs without a live lease
 * (no owner first, then the longest expired) but not the owner's own, then with includeOwn
 * the owner's own that are not leased until exactly leaseUntil. Returns the claimed jobs'
 * hashes (HGETALL replies).
 */
export const CLAIM = `${PRELUDE}
local owner, lease, now, limit, includeOwn = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1'
local out, n = {}, 0
local function take(id, o)
  local key = jobKey(id)
  if o.owner and o.owner ~= owner then redis.call('ZREM', P .. 'owner:' .. o.owner, id) end
  redis.call('ZADD', P .. 'owner:' .. owner, lease, id)
  redis.call('HSET', key, 'owner', owner, 'leaseUntil', lease)
  redis.call('ZADD', P .. 'lease', lease, id)
  n = n + 1
  out[n] = redis.call('HGETALL', key)
end
-- A claimed job leaves the range (its score becomes the new lease): only the skipped ones,
-- this owner's expired jobs, stay in front, so the next page starts after them.
local skipped = 0
while n < limit do
  local ids = redis.call('ZRANGEBYSCORE', P .. 'lease', '-inf', '(' .. now, 'LIMIT', skipped, limit - n)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local o = indexed(jobKey(id))
    if not o or not PENDING[o.state] then
      redis.call('ZREM', P .. 'lease', id) -- cannot happen; never loop on it
    elseif o.owner == owner then
      skipped = skipped + 1
    else
      take(id, o)
    end
  end
end
-- The owner's own, but not those leased until exactly this lease: a page of the same claim
-- took them, and so did the loop above (a taken job's score is the lease). Read first, then
-- taken.
if includeOwn and n < limit then
  local own = P .. 'owner:' .. owner
  local mine = redis.call('ZRANGEBYSCORE', own, '-inf', '(' .. lease, 'LIMIT', 0, limit - n)
  if n + #mine < limit then
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', own, '(' .. lease, '+inf', 'LIMIT', 0, limit - n - #mine)) do mine[#mine + 1] = id end
  end
  for _, id in ipairs(mine) do take(id, indexed(jobKey(id))) end
end
return out
`;

/**
 * ARGV: P, owner, leaseUntil, due: the owner's leases that expire before `due` become
 * leaseUntil (renew passes the half-way point, release passes +inf and 0). Returns how many.
 */
export const RENEW = `${PRELUDE}
local owner, lease, due = ARGV[2], ARGV[3], ARGV[4]
local ids = redis.call('ZRANGEBYSCORE', P .. 'owner:' .. owner, '-inf', '(' .. due)
for _, id in ipairs(ids) do
  redis.call('HSET', jobKey(id), 'leaseUntil', lease)
  redis.call('ZADD', P .. 'lease', lease, id)
  redis.call('ZADD', P .. 'owner:' .. owner, lease, id)
end
return #ids
`;

/**
 * ARGV: P, index key (after P), since ('-inf' or ms), limit, fn to match or '' (used when the
 * index is a state's). Newest first; equal times in descending id order.
 */
export const LIST = `${PRELUDE}
local key, since, limit, fn = P .. ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local out, offset, page = {}, 0, math.max(limit, 100)
while #out < limit do
  local ids = redis.call('ZREVRANGEBYSCORE', key, '+inf', since, 'LIMIT', offset, page)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local k = jobKey(id)
    if fn == '' or redis.call('HGET', k, 'fn') == fn then
      out[#out + 1] = redis.call('HGETALL', k)
      if #out >= limit then break end
    end
  end
  offset = offset + #ids
end
return out
`;

/** ARGV: P, before, most to delete in this call. Returns how many were deleted. */
export const PRUNE = `${PRELUDE}
local before, most = ARGV[2], tonumber(ARGV[3])
local n = 0
for _, s in ipairs({ 'done', 'cancelled' }) do
  if n >= most then break end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'state:' .. s, '-inf', '(' .. before, 'LIMIT', 0, most - n)) do
    local k = jobKey(id)
    local fn = redis.call('HGET', k, 'fn')
    redis.call('DEL', k)
    redis.call('ZREM', P .. 'state:' .. s, id)
    redis.call('ZREM', P .. 'updated', id)
    if fn then redis.call('ZREM', P .. 'fn:' .. fn, id) end
    n = n + 1
  end
end
return n
`;
