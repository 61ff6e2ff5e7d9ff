-- A process leaves the fleet (it is closing): no longer live, its lease (if it held it)
-- free for the next check-in of another process. KEYS and ARGV[1] as check_in.lua's.
local id = ARGV[1]
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
if redis.call('GET', KEYS[3]) == id then redis.call('DEL', KEYS[3]) end
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], id) end
return 0
