# Sourced by the docker/ scripts: the settings they share with the server, read the way the server
# reads them — the real environment first, then .env, then the defaults. Sets `root`,
# `database_url`, `redis_url` and `redis_prefix`.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

from_dotenv() {
  [ -f "$root/.env" ] && sed -n "s/^$1=//p" "$root/.env" | tail -n 1 | tr -d '"'"'" || true
}
database_url=${DATABASE_URL:-$(from_dotenv DATABASE_URL)}
database_url=${database_url:-postgres://postgres@127.0.0.1:5432/simplechat}
redis_url=${REDIS_URL:-$(from_dotenv REDIS_URL)}
redis_url=${redis_url:-redis://127.0.0.1:6379}
redis_prefix=${REDIS_PREFIX:-$(from_dotenv REDIS_PREFIX)}
redis_prefix=${redis_prefix:-simplechat:}
