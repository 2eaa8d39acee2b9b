rm -rf '/etc/mirrorstack/tls'
