set -euo pipefail
mariadb --batch -e "SET SESSION sql_log_bin = 0; DROP USER IF EXISTS 'www-data'@'localhost';"
