//! The counters every replica shares, in Redis: one script call per check takes all of a
//! call's buckets at once (or none), timed by Redis's own clock so that replicas' clocks do not
//! matter, and notes the replica as alive so each knows how many share the limits.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use super::local::Refused;
use super::rules::Bucket;

/// The sorted set of replicas seen in the last 30 s, scored by when.
const REPLICAS_KEY: &str = "colloquy:rl:replicas";

/// KEYS: the buckets, then the replicas set. ARGV: this replica's id, then per bucket its
/// interval (ms per unit), capacity and cost. Answers {admitted (1|0), refused bucket (0-based),
/// retry after (ms), replicas}.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local seen = KEYS[#KEYS]
redis.call('ZADD', seen, now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', seen, '-inf', now - 30000)
redis.call('PEXPIRE', seen, 60000)
local replicas = redis.call('ZCARD', seen)
local after = {}
for i = 1, #KEYS - 1 do
  local interval = tonumber(ARGV[3 * i - 1])
  local capacity = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local ahead = (tonumber(redis.call('GET', KEYS[i])) or now) - now
  if ahead < 0 then ahead = 0 end
  local wait = ahead + interval * cost - interval * capacity
  if wait > 0.001 then
    return {0, i - 1, math.ceil(wait), replicas}
  end
  after[i] = now + ahead + interval * cost
end
for i = 1, #KEYS - 1 do
  redis.call('SET', KEYS[i], string.format('%.3f', after[i]), 'PX', math.ceil(after[i] - now) + 1000)
end
return {1, 0, 0, replicas}
";

/// KEYS: buckets. ARGV: per bucket the milliseconds to move its counter by (negative gives
/// back). A counter that has drained already is left alone.
const ADJUST: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat then
    local moved = tat + tonumber(ARGV[i])
    if moved > now then
      redis.call('SET', KEYS[i], string.format('%.3f', moved), 'PX', math.ceil(moved - now) + 1000)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return 0
";

/// What Redis answered a check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SharedAnswer {
    pub refused: Option<Refused>,
    /// Replicas that checked a limit in the last 30 s, this one included.
    pub replicas: u32,
}

/// Why Redis gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis answered the limit script with {0:?}")]
    Malformed(Vec<i64>),
}

pub struct SharedCounters {
    connection: ConnectionManager,
    admit: Script,
    adjust: Script,
    replica: String,
    timeout: Duration,
}

impl SharedCounters {
    /// Counters at `url`; the connection is made on first use and remade whenever it breaks.
    pub fn new(url: &str, timeout: Duration, replica: String) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(200))))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        Ok(Self {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            admit: Script::new(ADMIT),
            adjust: Script::new(ADJUST),
            replica,
            timeout,
        })
    }

    /// Takes every bucket or none.
    pub async fn admit(&self, buckets: &[Bucket]) -> Result<SharedAnswer, SharedError> {
        let mut invocation = self.admit.prepare_invoke();
        for bucket in buckets {
            invocation.key(&bucket.key);
        }
        invocation.key(REPLICAS_KEY).arg(&self.replica);
        for bucket in buckets {
            invocation
                .arg(bucket.interval_ms)
                .arg(bucket.capacity)
                .arg(bucket.cost);
        }
        let mut connection = self.connection.clone();
        let answer: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| SharedError::Timeout(self.timeout))??;
        let &[admitted, bucket, retry_ms, replicas] = answer.as_slice() else {
            return Err(SharedError::Malformed(answer));
        };
        let replicas = u32::try_from(replicas.max(1)).unwrap_or(u32::MAX);
        let refused = (admitted == 0).then(|| Refused {
            bucket: usize::try_from(bucket).unwrap_or_default(),
            retry_after: Duration::from_millis(u64::try_from(retry_ms).unwrap_or_default()),
        });
        Ok(SharedAnswer { refused, replicas })
    }

    /// Moves each bucket's counter by `units` of its own.
    pub async fn adjust(&self, buckets: &[Bucket], units: f64) -> Result<(), SharedError> {
        let mut invocation = self.adjust.prepare_invoke();
        for bucket in buckets {
            invocation.key(&bucket.key).arg(bucket.interval_ms * units);
        }
        let mut connection = self.connection.clone();
        let _: i64 = tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| SharedError::Timeout(self.timeout))??;
        Ok(())
    }
}
