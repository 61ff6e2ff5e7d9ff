-- KEYS: storm. ARGV: now, gather, fingerprint, [title, culprit] JSON, count, window,
-- sample JSON, max groups, other-errors key, ttl, type, follow-up JSON ('' unless new).
local key, now, fp = KEYS[1], tonumber(ARGV[1]), ARGV[3]
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'since', ARGV[1], 'until', ARGV[1], 'window', ARGV[6],
             'nb', string.format('%.17g', now + tonumber(ARGV[2])), 'sample', ARGV[7],
             'total', 0, 'n', 0)
end
if redis.call('HEXISTS', key, 'c:' .. fp) == 0 then
  if tonumber(redis.call('HGET', key, 'n')) >= tonumber(ARGV[8]) then
    fp = ARGV[9]  -- beyond the listed errors: counted together
    redis.call('HSETNX', key, 'm:' .. fp, '["other errors",""]')
  else
    redis.call('HSET', key, 'm:' .. fp, ARGV[4])
    redis.call('HINCRBY', key, 'n', 1)
  end
end
if fp ~= ARGV[9] then
  if ARGV[11] ~= '' then redis.call('HSETNX', key, 't:' .. fp, ARGV[11]) end
  -- at most one per listed error: bounded like the list
  if ARGV[12] ~= '' then redis.call('HSETNX', key, 'f:' .. fp, ARGV[12]) end
end
redis.call('HINCRBY', key, 'c:' .. fp, ARGV[5])
redis.call('HINCRBY', key, 'total', ARGV[5])
if now > tonumber(redis.call('HGET', key, 'until')) then
  redis.call('HSET', key, 'until', ARGV[1])
end
redis.call('PEXPIRE', key, ARGV[10])
return 0
