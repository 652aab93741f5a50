<?php
// Admin status page: runs fixed commands only.
$uptime = [];
exec('uptime', $uptime, $status);
$disk = shell_exec('df -h /');
$host = escapeshellarg(gethostname());
system('ping -c 1 ' . $host, $rc);
$page = isset($_GET['page']) ? (int) $_GET['page'] : 1;
echo '<h1>Status</h1>';
echo '<pre>' . htmlspecialchars(implode("\n", $uptime)) . "\n" . htmlspecialchars((string) $disk) . '</pre>';
echo '<p>page ' . $page . '</p>';
