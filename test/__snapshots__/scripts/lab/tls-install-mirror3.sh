set -euo pipefail
host='mirror3' dir='/etc/mirrorstack/tls' cert='/etc/mirrorstack/tls/server.pem' ca='/etc/mirrorstack/tls/ca.pem'
[ -d "$dir" ] || { echo "[$host] $dir is missing (the TLS key step makes it)" >&2; exit 1; }
tmp=$(mktemp -d "$dir/.install.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
awk -v c="$tmp/cert" -v a="$tmp/ca" '/-----BEGIN CERTIFICATE-----/ { n++ } n == 1 { print > c } n >= 2 { print > a }'
openssl x509 -in "$tmp/cert" -noout 2>/dev/null || { echo "[$host] the certificate sent is not a PEM certificate" >&2; exit 1; }
openssl x509 -in "$tmp/ca" -noout 2>/dev/null || { echo "[$host] the CA certificate sent is not a PEM certificate" >&2; exit 1; }
openssl verify -CAfile "$tmp/ca" "$tmp/cert" >/dev/null || { echo "[$host] the certificate does not verify against the CA" >&2; exit 1; }
chown root:mysql "$tmp/cert" "$tmp/ca"; chmod 0644 "$tmp/cert" "$tmp/ca"
mv -f "$tmp/ca" "$ca"
mv -f "$tmp/cert" "$cert"
openssl x509 -in "$cert" -noout -enddate
