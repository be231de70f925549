//! The counters every replica shares, in Redis: one script call per check takes all of a
//! call's buckets at once (or none), timed by Redis's own clock so that replicas' clocks do not
//! matter, and notes the replica as alive so each knows how many share the limits.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::{IntoConnectionInfo, RedisError, Script};

use super::rules::{Bucket, Refused};

/// The sorted set of replicas seen in the last 30 s, scored by when.
const REPLICAS_KEY: &str = "colloquy:rl:replicas";

/// How often a replica notes itself in the replicas set, which counts those noted in the
/// last 30 s.
const NOTE_EVERY: Duration = Duration::from_secs(5);

/// KEYS: the buckets, then the replicas set. ARGV: this replica's id, whether to note it (1|0),
/// then per bucket its interval (ms per unit), capacity, cost and the room wanted beyond the
/// cost. Answers {admitted (1|0), refused bucket (0-based), retry after (ms), replicas (0 when
/// not noted)}, then per bucket the whole units of room granted beyond the cost (as far as the
/// bucket has them; none when refused).
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local replicas = 0
if ARGV[2] == '1' then
  local seen = KEYS[#KEYS]
  redis.call('ZADD', seen, now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', now - 30000)
  redis.call('PEXPIRE', seen, 60000)
  replicas = redis.call('ZCARD', seen)
end
local after = {}
local answer = {1, 0, 0, replicas}
for i = 1, #KEYS - 1 do
  local interval = tonumber(ARGV[4 * i - 1])
  local capacity = tonumber(ARGV[4 * i])
  local cost = tonumber(ARGV[4 * i + 1])
  local wanted = tonumber(ARGV[4 * i + 2])
  local ahead = (tonumber(redis.call('GET', KEYS[i])) or now) - now
  if ahead < 0 then ahead = 0 end
  local wait = ahead + interval * cost - interval * capacity
  if wait > 0.001 then
    return {0, i - 1, math.ceil(wait), replicas}
  end
  local extra = math.floor(math.min(wanted, -wait / interval))
  if extra < 0 then extra = 0 end
  after[i] = now + ahead + interval * (cost + extra)
  answer[4 + i] = extra
end
for i = 1, #KEYS - 1 do
  redis.call('SET', KEYS[i], string.format('%.3f', after[i]), 'PX', math.ceil(after[i] - now) + 1000)
end
return answer
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
#[derive(Debug, Clone, PartialEq)]
pub struct SharedAnswer {
    pub refused: Option<Refused>,
    /// Replicas that checked a limit in the last 30 s, this one included; `None` when this
    /// check did not count them.
    pub replicas: Option<u32>,
    /// Per bucket, the units of room granted beyond the call's cost (empty when refused).
    pub granted: Vec<f64>,
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
    /// When this replica last noted itself; `None` before the first check.
    noted: Mutex<Option<Instant>>,
}

impl SharedCounters {
    /// Counters at `url`; the connection is made on first use and remade whenever it breaks.
    pub fn new(url: &str, timeout: Duration, replica: String) -> Result<Self, RedisError> {
        // Each check is one small write awaited at once: Nagle's algorithm would hold it
        // back behind the previous one's acknowledgement.
        let info = url
            .into_connection_info()?
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info)?;
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
            noted: Mutex::new(None),
        })
    }

    /// Whether this check should note the replica (once every `NOTE_EVERY`).
    fn note_now(&self) -> bool {
        let mut noted = self.noted.lock().unwrap_or_else(|p| p.into_inner());
        let due = noted.is_none_or(|at| at.elapsed() >= NOTE_EVERY);
        if due {
            *noted = Some(Instant::now());
        }
        due
    }

    /// Takes every bucket's cost or none, and of each as much of the room `wanted` beyond it
    /// as it has.
    pub async fn admit(
        &self,
        buckets: &[Bucket],
        wanted: &[f64],
    ) -> Result<SharedAnswer, SharedError> {
        let mut invocation = self.admit.prepare_invoke();
        for bucket in buckets {
            invocation.key(&bucket.key);
        }
        let note = self.note_now();
        invocation
            .key(REPLICAS_KEY)
            .arg(&self.replica)
            .arg(if note { "1" } else { "0" });
        for (index, bucket) in buckets.iter().enumerate() {
            invocation
                .arg(bucket.interval_ms)
                .arg(bucket.capacity)
                .arg(bucket.cost)
                .arg(wanted.get(index).copied().unwrap_or_default());
        }
        let mut connection = self.connection.clone();
        let answer: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| SharedError::Timeout(self.timeout))??;
        let Some((&[admitted, bucket, retry_ms, replicas], granted)) = answer.split_first_chunk()
        else {
            return Err(SharedError::Malformed(answer));
        };
        let replicas = (replicas > 0).then(|| u32::try_from(replicas).unwrap_or(u32::MAX));
        let refused = (admitted == 0).then(|| Refused {
            bucket: usize::try_from(bucket).unwrap_or_default(),
            retry_after: Duration::from_millis(u64::try_from(retry_ms).unwrap_or_default()),
        });
        if refused.is_none() && granted.len() != buckets.len() {
            return Err(SharedError::Malformed(answer));
        }
        Ok(SharedAnswer {
            refused,
            replicas,
            granted: granted.iter().map(|&units| units.max(0) as f64).collect(),
        })
    }

    /// Moves each counter by its milliseconds (bucket key, ms).
    pub async fn adjust(&self, moves: &[(String, f64)]) -> Result<(), SharedError> {
        let mut invocation = self.adjust.prepare_invoke();
        for (key, ms) in moves {
            invocation.key(key).arg(*ms);
        }
        let mut connection = self.connection.clone();
        let _: i64 = tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| SharedError::Timeout(self.timeout))??;
        Ok(())
    }
}
