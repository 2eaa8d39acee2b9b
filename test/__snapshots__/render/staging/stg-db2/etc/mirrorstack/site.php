<?php
# This file is managed by mirrorstack (stack: staging). Do not edit: the next deployment overwrites it.
# Applied by MirrorHost on stg-db2 (web: true). Include it from the site's settings (MediaWiki: at the end of
# LocalSettings.php, `require '/etc/mirrorstack/site.php';`). On a mirror the site is read-only: the database
# account below has SELECT only and the server is read_only; the flags let the application say so.
$mirrorstackRole = 'mirror';
$mirrorstackReadOnly = true;
# The web server's own system user, authenticated by the database server through its socket: no password.
$mirrorstackDb = [ 'server' => 'localhost', 'socket' => '/run/mysqld/mysqld.sock', 'name' => 'wiki', 'user' => 'www-data', 'password' => '' ];
$wgReadOnly = 'This is a read-only mirror of the site; changes are made on the master.';
