<?php
// Sends the newsletter to the subscribers stored in the database.
$subject = trim($_POST['subject'] ?? '');
$rows = $pdo->query('SELECT email FROM subscribers WHERE active = 1');
foreach ($rows as $row) {
    mail($row['email'], $subject, render_newsletter(), 'From: news@example.org');
}
