<?php
// The lab demo's site (lab/demo-site/, put on the master by scripts/demo.sh; a mirror gets it by the rsync pull).
// /etc/mirrorstack/site.php is written by mirrorstack on each web host: this host's role, whether the site may
// write, and the site's database account (the web server's own user, authenticated through the socket).
// ?write=1 tries to add a row: it goes through on the master and is refused on a mirror.
require '/etc/mirrorstack/site.php';
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$d = $mirrorstackDb;
$db = new mysqli($d['server'], $d['user'], $d['password'], $d['name'], 0, $d['socket']);
$write = '';
if (isset($_GET['write'])) {
  try {
    $db->query("INSERT INTO pages (title) VALUES (CONCAT('written through the site on ', @@hostname, ' at ', NOW()))");
    $write = "write=ok\n";
  } catch (mysqli_sql_exception $e) {
    $write = 'write=refused: ' . $e->getMessage() . "\n";
  }
}
$row = $db->query('SELECT title FROM pages WHERE id = 1')->fetch_row();
$rows = $db->query('SELECT COUNT(*) FROM pages')->fetch_row()[0];
$text = 'host=' . gethostname() . " role=$mirrorstackRole readonly=" . ($mirrorstackReadOnly ? 'yes' : 'no') . "\n"
  . "title=" . ($row ? $row[0] : '(no row 1)') . " rows=$rows\n" . $write;
?>
<!doctype html>
<title>mirrorstack demo</title>
<pre>
<?= htmlspecialchars($text) ?></pre>
<img src="/images/logo.png" alt="logo, from the mirrored uploads">
