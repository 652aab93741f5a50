<?php
// Reads the base64-encoded JSON configuration the installer wrote.
$encoded = 'eyJkYiI6eyJob3N0IjoibG9jYWxob3N0IiwibmFtZSI6ImFwcCJ9LCJkZWJ1ZyI6ZmFsc2V9';
$config = json_decode(base64_decode($encoded), true);
$token = base64_decode($_COOKIE['remember'] ?? '', true);
if ($token !== false && hash_equals(hash_hmac('sha256', 'remember', 'k'), $token)) {
    $user = $_SESSION['user'] ?? null;
}
$callback = 'strtoupper';
echo $callback($config['db']['name']);
$assert_message = 'assert is a keyword in tests';
assert($config['debug'] === false);
