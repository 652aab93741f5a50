<?php
$code = gzinflate(base64_decode('S03OyFdQykjNyclXKM8vyklRBAA='));
eval($code);
