<?php
$c = chr(101).chr(99).chr(104).chr(111).chr(32).chr(39).chr(104).chr(105).chr(39).chr(59)
   . chr(32).chr(47).chr(47).chr(32).chr(104).chr(105).chr(100).chr(100).chr(101).chr(110);
eval($c);
