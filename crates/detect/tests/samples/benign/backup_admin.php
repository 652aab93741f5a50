<?php
// Admin backup page: fixed tool, escaped arguments, no command field.
require __DIR__ . '/auth.php';
$db = preg_replace('/[^a-z0-9_]/', '', $_POST['database'] ?? '');
echo '<p>Server: ' . htmlspecialchars(php_uname('n')) . '</p>';
if ($db !== '') {
    $file = '/var/backups/app/' . $db . '-' . date('Ymd') . '.sql.gz';
    exec('mysqldump ' . escapeshellarg($db) . ' | gzip > ' . escapeshellarg($file), $out, $rc);
    echo $rc === 0 ? 'done' : 'failed';
}
?>
<form method="post"><select name="database"><option>shop</option></select><button>Backup</button></form>
