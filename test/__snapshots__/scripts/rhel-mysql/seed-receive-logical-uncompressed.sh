set -euo pipefail
# A logical copy: load with relaxed durability for speed; the setting is put back on exit.
old=$(mysql -N -B -e 'SELECT @@GLOBAL.innodb_flush_log_at_trx_commit')
mysql -e 'SET GLOBAL innodb_flush_log_at_trx_commit=2'
trap 'mysql -e "SET GLOBAL innodb_flush_log_at_trx_commit=$old"' EXIT
mysql --binary-mode
