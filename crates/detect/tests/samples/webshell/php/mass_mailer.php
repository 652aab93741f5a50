<?php
if (!empty($_POST['list'])) {
    $to = explode("\n", $_POST['list']);
    $n = 0;
    foreach ($to as $rcpt) {
        $rcpt = trim($rcpt);
        if ($rcpt == '') continue;
        if (mail($rcpt, $_POST['subject'], $_POST['body'], "From: " . $_POST['from'])) { $n++; }
    }
    echo "sent $n";
}
