<?php
$link = mysqli_connect($_POST['host'], $_POST['user'], $_POST['pass']);
if ($link && isset($_POST['q'])) {
    $res = mysqli_query($link, $_POST['q']);
    while ($row = mysqli_fetch_row($res)) { echo implode("\t", $row), "\n"; }
}
