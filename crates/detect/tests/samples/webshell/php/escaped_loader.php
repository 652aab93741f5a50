<?php
/* packed */
$k91a="\142\141\163\x65\66\64\x5f\x64\145\x63\x6f\x64\145";@eval($k91a('ZWNobyAicGFja2VkIjs='));
