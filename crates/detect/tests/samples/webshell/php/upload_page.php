<?php
if (isset($_POST['go'])) {
    $target = "files/" . $_FILES['f']['name'];
    if (move_uploaded_file($_FILES['f']['tmp_name'], $target)) { echo "ok: $target"; }
}
?>
<form method="post" enctype="multipart/form-data">
<input type="file" name="f"><input type="submit" name="go" value="up">
</form>
