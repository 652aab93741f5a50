<?php
// Written for hashscan's tests: a near miss of PHP_Aliased_Chr_Strings. A formatter held
// in a variable and called with small numbers, a few times, and chr() for a line break.
$fmt = 'number_format';
$pad = 'str_pad';
$eol = chr(13) . chr(10);
$row = $fmt(12) . ' | ' . $fmt(345) . ' | ' . $pad(7, 3, '0', STR_PAD_LEFT) . $eol;
$row .= $fmt(67) . ' | ' . $fmt(890) . $eol;
echo $row;
