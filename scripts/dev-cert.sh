#!/usr/bin/env bash
# Make a throwaway CA and a server certificate for localhost and 127.0.0.1 in DIR (P-256,
# what most deployments serve): ca.pem, server.pem, and server.key (mode 600: edgeauth
# refuses a key others can read). For development and benchmarks only.
#
#   scripts/dev-cert.sh DIR [DAYS]      (DAYS: 30)
set -euo pipefail
dir=$1
days=${2:-30}
command -v openssl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
}
mkdir -p "$dir"
cd "$dir"
umask 077
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days "$days" -subj "/CN=edgeauth dev CA" 2>/dev/null
openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
  -extfile server.ext -out server.pem 2>/dev/null
chmod 644 ca.pem server.pem
