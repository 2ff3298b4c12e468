#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL: initdb into a temp dir,
# start the server on a unix socket in that dir (no TCP port to collide
# with), export HEAPLAB_TEST_DB for the command, and stop and remove the
# cluster when the command ends, however it ends.
#
#   .ci/postgres.sh cargo test --test integration
#
# Needs Debian's `postgresql` package (installed here with apt-get when
# missing and running as root). PostgreSQL refuses to run as root, so as
# root the cluster belongs to the unprivileged `postgres` user (created by
# the package) or `nobody`.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

if ! BIN=$(pg_bin); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: PostgreSQL is not installed (apt-get install postgresql)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  BIN=$(pg_bin)
fi

DIR=$(mktemp -d /tmp/heaplab-pg.XXXXXX)
chmod 755 "$DIR"
RUN_AS=()
if [ "$(id -u)" -eq 0 ]; then
  PG_USER=postgres
  id "$PG_USER" >/dev/null 2>&1 || PG_USER=nobody
  chown "$PG_USER" "$DIR"
  RUN_AS=(runuser -u "$PG_USER" --)
else
  PG_USER=$(id -un)
fi

stop() {
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT

# Trust on the socket only: the socket lives in a private temp dir.
"${RUN_AS[@]}" "$BIN/initdb" -D "$DIR/data" -U heaplab --auth=trust \
  --encoding=UTF8 --no-locale >/dev/null
"${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-c listen_addresses='' -c unix_socket_directories='$DIR' -c max_connections=300 \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null

export HEAPLAB_TEST_DB="postgres://heaplab@localhost/postgres?host=$DIR"
# The cluster is removed whole at exit: the tests need not drop their databases.
export HEAPLAB_TEST_DB_DISPOSABLE=1
echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on $DIR (HEAPLAB_TEST_DB=$HEAPLAB_TEST_DB)"
"$@"
