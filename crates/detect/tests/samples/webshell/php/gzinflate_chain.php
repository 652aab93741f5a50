<?php
eval(gzinflate(base64_decode('S03OyFdQz0gszihOTsxTKEktLlEoTswtyEm1UihITM5OTVFIzk9JVbcGAA==')));
