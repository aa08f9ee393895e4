#!/usr/bin/env bash
# A self-signed certificate for local HTTPS (nginx in docker/docker-compose.yml, .ci/e2e-nginx.sh).
# Browsers warn about it; for a real host use Let's Encrypt (docs/deployment.md, "TLS").
#
#   docker/dev-cert.sh [DIR] [NAME...]     default DIR docker/tls, names localhost 127.0.0.1
#
# Writes DIR/cert.pem and DIR/key.pem (kept if both exist, so repeated runs are no-ops) valid for
# a year for every NAME (DNS names or IP addresses). Needs only openssl.
set -euo pipefail
dir=${1:-$(dirname "$0")/tls}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(localhost 127.0.0.1)
if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ]; then
  echo "dev-cert: $dir/cert.pem exists; delete it to make a new one" >&2
  exit 0
fi
command -v openssl >/dev/null || { echo "dev-cert: openssl is needed (apt-get install openssl)" >&2; exit 1; }
san=
for name in "${names[@]}"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
done
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj "/CN=${names[0]}" -addext "subjectAltName=${san%,}" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
# nginx's workers read the key as an unprivileged user in the container.
chmod 644 "$dir/key.pem" "$dir/cert.pem"
echo "dev-cert: wrote $dir/cert.pem and $dir/key.pem for ${names[*]}" >&2
