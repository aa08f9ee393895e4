//! Redis keys of the chatbot: the questions each user asked in the last minute, counted across
//! every instance.

use redis::RedisResult;

use crate::{app::models::ids::UserId, platform::cache::Cache};

/// How far back questions count.
const WINDOW_MS: i64 = 60_000;

/// Records question `question_id` of `user` and returns how many questions the user asked in the
/// last minute, this one included. A sliding window: a sorted set of question ids scored by time,
/// trimmed to the last minute on every question, gone a minute after the last one.
pub async fn count_question(cache: &Cache, user: UserId, question_id: i64) -> RedisResult<u64> {
    let now = chrono::Utc::now().timestamp_millis();
    let key = cache.key(&format!("chatbot:questions:{user}"));
    let mut conn = cache.connection().await?;
    let (count,): (u64,) = redis::pipe()
        .atomic()
        .zrembyscore(&key, "-inf", format!("({}", now - WINDOW_MS))
        .ignore()
        .zadd(&key, question_id, now)
        .ignore()
        .zcard(&key)
        .pexpire(&key, WINDOW_MS)
        .ignore()
        .query_async(&mut conn)
        .await?;
    Ok(count)
}
