set -euo pipefail
host='web-a' dir='/etc/mirrorstack/tls' key='/etc/mirrorstack/tls/server.key'
command -v openssl >/dev/null || { echo "[$host] openssl is not installed; it makes the TLS key" >&2; exit 1; }
getent passwd mysql >/dev/null || { echo "[$host] no mysql user: the database server is not installed yet" >&2; exit 1; }
umask 077
install -d -o root -g mysql -m 0750 "$dir"
if [ ! -s "$key" ] || ! openssl pkey -in "$key" -noout 2>/dev/null; then
  rm -f "$key.new"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key.new" 2>/dev/null
  chown mysql:mysql "$key.new"; chmod 0600 "$key.new"
  mv -f "$key.new" "$key"
fi
chown mysql:mysql "$key"; chmod 0600 "$key"
openssl req -new -sha256 -key "$key" -subj '/O=mirrorstack/OU=rhel-mysql/CN=web-a'
