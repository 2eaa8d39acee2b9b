set -euo pipefail
# A logical copy: load with relaxed durability for speed; the setting is put back on exit.
old=$(mariadb -N -B -e 'SELECT @@GLOBAL.innodb_flush_log_at_trx_commit')
mariadb -e 'SET GLOBAL innodb_flush_log_at_trx_commit=2'
trap 'mariadb -e "SET GLOBAL innodb_flush_log_at_trx_commit=$old"' EXIT
# sql_log_bin=0: the copy is the master's history, not this host's own transactions, so it stays out of a binary
# log this host may keep (a mirror that can be promoted), where it would show as errant transactions.
zstd -d -q | mariadb --binary-mode --init-command='SET SESSION sql_log_bin=0'
