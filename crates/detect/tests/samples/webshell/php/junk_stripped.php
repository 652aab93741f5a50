<?php
$q="aGVsbG8=";
$w=str_replace('zk','','bzkaszke64zk_dzkeczkodzke');
$v=str_replace('u','','cureuate_fuuncution');
$t=$v('',$w($q));$t();
