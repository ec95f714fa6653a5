#!/bin/sh
# Makes the secrets of the one-host compose stack in deploy/compose/secrets/ (git-ignored):
#   ca.pem, ca.key                 a private CA for this stack
#   coordinator.pem, coordinator.key  the coordinator's TLS certificate (localhost, coordinator)
#   caller-tokens                  the coordinator's bearer tokens, "TOKEN CALLER-NAME" per line
#   token                          the operator's token, for `smtp-probe --token "$(cat ...)"`
#   nats-coordinator.password, nats-agent-<region>.password   NATS passwords, one a user
#   nats.env                       the same passwords for the NATS server (compose/nats.conf)
# Why TLS on one host: the coordinator refuses bearer tokens over plaintext on any address but
# loopback, and inside a container the published port reaches it on a non-loopback address.
# Files that exist are kept; delete one (or the directory) to make it again (README: rotation).
# Needs openssl. Run from anywhere; an argument names another directory (the tests use one).
set -eu
umask 077
dir="${1:-$(cd "$(dirname "$0")" && pwd)/secrets}"
mkdir -p "$dir"
cd "$dir"
dir="$(pwd)"

if [ ! -f ca.key ] || [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=smtp-probe compose CA" -keyout ca.key -out ca.pem 2>/dev/null
  rm -f coordinator.pem coordinator.key
  echo "made ca.pem"
fi

if [ ! -f coordinator.key ] || [ ! -f coordinator.pem ]; then
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=coordinator" \
    -keyout coordinator.key -out coordinator.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost,DNS:coordinator,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' > coordinator.ext
  openssl x509 -req -in coordinator.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 397 \
    -extfile coordinator.ext -out coordinator.pem 2>/dev/null
  rm -f coordinator.csr coordinator.ext ca.srl
  echo "made coordinator.pem (localhost, coordinator)"
fi

if [ ! -f caller-tokens ] || [ ! -f token ]; then
  token="$(openssl rand -hex 24)"
  printf '%s\n' "$token" > token
  {
    echo "# TOKEN CALLER-NAME, one per line; made by make-secrets.sh"
    echo "$token operator"
  } > caller-tokens
  echo "made caller-tokens and token (caller \"operator\")"
fi

# NATS: one password a user; the server reads them from its environment (nats.env), the
# coordinator and the agents from a file each (SMTP_PROBE_NATS_PASSWORD_FILE).
if [ ! -f nats.env ]; then
  : > nats.env
  for user in coordinator agent-eu-west agent-us-east agent-ap-south; do
    # Starts with a letter: nats-server parses a variable's value as a config value, and one
    # that starts with a digit is taken for a number and refused.
    password="p$(openssl rand -hex 24)"
    printf '%s\n' "$password" > "nats-$user.password"
    # coordinator -> COORDINATOR, agent-eu-west -> EU_WEST: the names deploy/compose/nats.conf reads (deploy/nats/hub.conf, for the multi-region topology, names its agent users AGENT_EU_WEST).
    name="$(printf '%s' "${user#agent-}" | tr 'a-z-' 'A-Z_')"
    printf 'SMTPPROBE_NATS_%s_PASSWORD=%s\n' "$name" "$password" >> nats.env
  done
  echo "made NATS passwords (coordinator, agent-eu-west, agent-us-east, agent-ap-south)"
fi

# The containers run as uid 1000, and compose mounts these files with their mode on the host: they
# are made readable to all, and the directory (0700) keeps them from other users of this machine.
chmod 0700 "$dir"
chmod 0644 ca.pem coordinator.pem coordinator.key caller-tokens token nats-*.password
echo "secrets in $dir"
