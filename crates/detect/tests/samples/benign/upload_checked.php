<?php
$allowed = ['jpg', 'png', 'gif'];
if (isset($_FILES['photo'])) {
    $ext = strtolower(pathinfo($_FILES['photo']['name'], PATHINFO_EXTENSION));
    if (in_array($ext, $allowed, true)) {
        move_uploaded_file($_FILES['photo']['tmp_name'], 'uploads/' . bin2hex(random_bytes(8)) . '.' . $ext);
    }
}
?>
<form method="post" enctype="multipart/form-data"><input type="file" name="photo"><button>Send</button></form>
