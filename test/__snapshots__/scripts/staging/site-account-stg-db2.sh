set -euo pipefail
mariadb --batch <<'SQL'
SET SESSION sql_log_bin = 0;
DROP USER IF EXISTS 'www-data'@'localhost';
CREATE USER 'www-data'@'localhost' IDENTIFIED VIA unix_socket;
GRANT SELECT ON `wiki`.* TO 'www-data'@'localhost';
SQL
echo "www-data@localhost: SELECT on wiki"
