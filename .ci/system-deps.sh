#!/usr/bin/env bash
# Installs the Debian packages that the system tests drive (real sshd, real mariadbd, real etcd, ping, sysbench as the application, HAProxy for the connector's benchmark, ruby for tpm's own parsers run against our output, and ruby-iniparse, the INI library tpm reads tungsten.ini with).
# As root it installs what is missing; otherwise it says what the system tests will lack.
set -euo pipefail
need=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v tar >/dev/null 2>&1 || need+=(tar)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v ruby >/dev/null 2>&1 || need+=(ruby)
ruby -riniparse -e 0 >/dev/null 2>&1 || need+=(ruby-iniparse)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system test prerequisites: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "missing system test prerequisites: ${need[*]} (install them as root; under CI=true the system tests fail without them)" >&2
fi
