<?php
// Written for hashscan's tests: lists which command functions this host allows, every
// name spelled by character code through a variable that holds chr.
$c = chr(99).chr(104).chr(114);
$names = array(
    $c(115).$c(121).$c(115).$c(116).$c(101).$c(109),
    $c(112).$c(111).$c(112).$c(101).$c(110),
    $c(101).$c(120).$c(101).$c(99),
);
$off = explode(',', ini_get($c(100).$c(105).$c(115).$c(97).$c(98).$c(108).$c(101).$c(95).$c(102).$c(117).$c(110).$c(99).$c(116).$c(105).$c(111).$c(110).$c(115)));
foreach ($names as $n) {
    echo $n, in_array($n, $off) ? " off\n" : " on\n";
}
